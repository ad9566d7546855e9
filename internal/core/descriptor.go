package core

import "time"

// Descriptor is what a tag points to: the manifest (or index) digest and its
// exact byte length, which together form the notary target.
type Descriptor struct {
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
	MediaType string `json:"mediaType,omitempty"`
}

// Target is a tag to record in a trust repository.
type Target struct {
	Tag        string
	Descriptor Descriptor
	Roles      []string // where docker's rule puts it
}

// Changes are what one publish does.
type Changes struct {
	Add     []Target // record Descriptor for Tag in Roles
	Remove  []Target // remove Tag from Roles
	Witness []string // re-sign these roles unchanged, moving their expiry forward
}

// RoleMeta is the version and expiry of one piece of TUF metadata.
type RoleMeta struct {
	Role    string    `json:"role"`
	Version int       `json:"version"`
	Expires time.Time `json:"expires"`
}
