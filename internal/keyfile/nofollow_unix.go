//go:build unix

package keyfile

import "syscall"

// noFollow refuses a symlink as the last path element (O_EXCL already does
// with O_CREAT; this keeps it so if the flags ever change).
const noFollow = syscall.O_NOFOLLOW
