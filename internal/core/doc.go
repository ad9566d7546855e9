// Package core holds the types every layer of sign-step shares: the error
// classes and their exit codes, Secret, image references (Ref) and the
// descriptor types of trust data. It imports nothing of sign-step, so the
// adapters take their types from here and import the use cases (internal/sign)
// only for the ports they implement.
package core
