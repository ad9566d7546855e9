//go:build !unix

package keyfile

// noFollow: O_CREATE|O_EXCL alone refuses an existing symlink here.
const noFollow = 0
