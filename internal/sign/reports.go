package sign

// The reports of the commands other than sign (whose Report is in sign.go).
// Each is one JSON document: the command's artifact (verify.json,
// report.json) and its stdout with --output json.

// Artifact names of verify.
const VerifyFile = "verify.json"

// VerifyReport is what a verify run checked.
type VerifyReport struct {
	Command string     `json:"command"` // verify
	Refs    []Verified `json:"refs"`    // a ref that failed has no pinned
}

// ResignReport is what a resign run did.
type ResignReport struct {
	Command      string         `json:"command"` // resign
	DryRun       bool           `json:"dryRun"`
	Changed      bool           `json:"changed"` // some repository was published
	Repositories []ResignResult `json:"repositories"`
}

// NewResignReport summarizes results.
func NewResignReport(results []ResignResult, dryRun bool) ResignReport {
	rep := ResignReport{Command: "resign", DryRun: dryRun, Repositories: results}
	if rep.Repositories == nil {
		rep.Repositories = []ResignResult{}
	}
	for _, r := range results {
		rep.Changed = rep.Changed || (r.Error == "" && len(r.Witnessed) > 0 && !dryRun)
	}
	return rep
}

// RevokeReport is what a revoke run removed.
type RevokeReport struct {
	Command string   `json:"command"` // revoke
	Changed bool     `json:"changed"`
	Revoked []string `json:"revoked"` // REPOSITORY:TAG
}

// NewRevokeReport summarizes the revoked refs.
func NewRevokeReport(revoked []string) RevokeReport {
	if revoked == nil {
		revoked = []string{}
	}
	return RevokeReport{Command: "revoke", Changed: len(revoked) > 0, Revoked: revoked}
}
