package main

import (
	"flag"
	"strings"
	"testing"
)

// unitTests are this package's tests that start no server: `make unit`
// (go test -short) runs only these, in seconds. A new test that needs no
// server belongs here; every other test gets the servers of TestMain.
var unitTests = []string{
	"TestActionInputsAreFlags",
	"TestActionInputsAsEnv",
	"TestActionMetadataInSync",
	"TestActionRunsPinned",
	"TestActionScriptPlan",
	"TestActionUnderAct",
	"TestDockerHubNotaryBeforeRetirement",
	"TestDockerImageRuns",
	"TestDockerfileBaseImagesPinned",
	"TestDockerfileBuildIsStatic",
	"TestDockerfileRuntimeStages",
	"TestDotenvNamesAreNotInputs",
	"TestKeychainRoutes",
	"TestPanicIsOneRedactedLine",
	"TestParseDuration",
	"TestPinActionReleaseScript",
	"TestUsageErrorExitCodes",
	"TestVersion",
	"TestWorkflowActionsPinned",
}

// unitOnly, under -short, narrows the run to unitTests (unless -run says
// otherwise) and says that TestMain must start no server.
func unitOnly(*testing.M) bool {
	flag.Parse()
	if !testing.Short() {
		return false
	}
	if f := flag.Lookup("test.run"); f != nil && f.Value.String() == "" {
		_ = f.Value.Set("^(" + strings.Join(unitTests, "|") + ")$")
	}
	return true
}
