# sign-step: every target works on a fresh machine with Go and the module
# proxy; tools (registry, notary-server, notary-signer, notary, vault) are built from the
# proxy and cached under ~/.cache/sign-step/tools.
GO        ?= go
BIN       ?= bin/sign-step
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
FUZZTIME  ?= 10s

.PHONY: build test unit fuzz vet tools act test-action demo bench clean actionlint pin-action-release notary-server

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/sign-step

## test: everything — vet, actionlint, unit and end-to-end tests against real servers, short fuzz runs.
## Tools are built first (`make tools`), with no deadline but CI's, so no build races a test timeout.
test: vet actionlint tools
	$(GO) test -count=1 -timeout 60m ./...
	$(MAKE) fuzz

## unit: the fast inner loop (no servers).
unit:
	$(GO) test -count=1 -short $$($(GO) list ./... | grep -v /bench)

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

# actionlint, pinned, built from the Go module proxy into the tools cache.
ACTIONLINT_VERSION := v1.7.12
TOOLS_BIN          := $(HOME)/.cache/sign-step/tools/bin
ACTIONLINT         := $(TOOLS_BIN)/actionlint-$(ACTIONLINT_VERSION)

$(ACTIONLINT):
	@mkdir -p $(TOOLS_BIN)
	GOBIN=$(TOOLS_BIN)/.actionlint-$(ACTIONLINT_VERSION) $(GO) install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)
	mv $(TOOLS_BIN)/.actionlint-$(ACTIONLINT_VERSION)/actionlint $@
	rmdir $(TOOLS_BIN)/.actionlint-$(ACTIONLINT_VERSION)

## actionlint: the example workflows as written, then again with the action
## taken from this checkout (uses: ./), which checks action.yml and every
## `with:` input and `outputs.` name the examples use against it. In that pass
## `@<commit SHA> # vX.Y.Z` pins read `@vX`, so actionlint also checks the
## inputs given to third-party actions (it knows them by major tag, not by SHA).
actionlint: $(ACTIONLINT)
	$(ACTIONLINT) examples/workflows/*.yml $(wildcard .github/workflows/*.yml)
	@set -e; t=$$(mktemp -d); trap 'rm -rf "$$t"' EXIT; \
	mkdir -p "$$t/.github/workflows"; git -C "$$t" init -q; cp action.yml "$$t/"; \
	for f in examples/workflows/*.yml $(wildcard .github/workflows/*.yml); do \
	  sed -E -e 's#uses: sign-step/sign-step@v1#uses: ./#' -e 's|@[0-9a-f]{40} # (v[0-9]+)[.0-9]*$$|@\1|' "$$f" > "$$t/.github/workflows/$${f%%/*}-$${f##*/}"; done; \
	cd "$$t" && $(ACTIONLINT) && echo "actionlint: action.yml and examples/workflows clean"

## pin-action-release: make this checkout the action's release commit for
## RELEASE (vX.Y.Z): VERSION and a copy of SUMS (the release's SHA256SUMS,
## one sum for each of the six binaries, or nothing is written). The release
## workflow runs scripts/pin-action-release.sh on the release commit.
pin-action-release:
	@test -n "$(RELEASE)" -a -n "$(SUMS)" || { echo "usage: make pin-action-release RELEASE=vX.Y.Z SUMS=path/to/SHA256SUMS"; exit 2; }
	sh scripts/pin-action-release.sh . '$(RELEASE)' '$(SUMS)'

fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzParseRef$$' -fuzztime=$(FUZZTIME) ./internal/sign/
	$(GO) test -run='^$$' -fuzz='^FuzzParseKey$$' -fuzztime=$(FUZZTIME) ./internal/notary/
	$(GO) test -run='^$$' -fuzz='^FuzzJSON$$' -fuzztime=$(FUZZTIME) ./internal/inspect/
	$(GO) test -run='^$$' -fuzz='^FuzzPretty$$' -fuzztime=$(FUZZTIME) ./internal/inspect/
	$(GO) test -run='^$$' -fuzz='^FuzzParseVaultSecrets$$' -fuzztime=$(FUZZTIME) ./internal/secrets/
	$(GO) test -run='^$$' -fuzz='^FuzzRedact$$' -fuzztime=$(FUZZTIME) ./internal/redact/

## tools: build (or find cached) every server and judge the tests start: registry, notary-server,
## notary-signer, notary CLI, Vault and nektos/act, all from the Go module proxy into ~/.cache/sign-step/tools.
tools: act
	$(GO) run ./internal/testenv/buildtools
	$(GO) run ./internal/testenv/buildcosign
	$(GO) run ./internal/testenv/vaultenv/buildvault

## notary-server: the patched notary-server 0.7.0 and notary-signer the tests run (see
## tools/notary/README.md), copied to bin/ with notary's SQL migrations in bin/notary-migrations/,
## for a deployment of your own (deploy/README.md).
notary-server:
	$(GO) run ./internal/testenv/buildtools -out bin

## act: nektos/act (pinned in internal/testenv/act.go), the runner the action tests use; prints its path.
act:
	$(GO) run ./internal/testenv/buildact

## test-action: the composite action under act in host mode (sign, verify, resign on the test servers).
test-action: act
	$(GO) test -count=1 -run 'TestActionUnderAct|TestActionScript|TestActionRunsPinned|TestActionInputsAsEnv|TestPinActionReleaseScript' ./cmd/sign-step

## demo: a local registry + notary-server, a signer, two tags pushed from an OCI layout and signed.
demo: build
	$(GO) run ./internal/testenv/demo -sign-step $(BIN)

## bench: sign-step vs the notary CLI, docker trust sign and crane on real servers (about 10 minutes); writes bench/results.md.
bench: build
	$(GO) run ./bench -sign-step $(BIN) -out bench/results.md

clean:
	rm -rf bin sign-step demo-out
