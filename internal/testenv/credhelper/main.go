// Command credhelper is a docker credential helper for tests, speaking the
// docker-credential-helpers protocol (get, store, erase, list) as the real
// docker-credential-* programs do. Install it as docker-credential-NAME
// (testenv.InstallCredentialHelper): it keeps its logins in store.json next
// to that name and appends each action and server URL to calls.log there,
// so tests can see which hosts were asked for.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

type creds struct {
	ServerURL string `json:"ServerURL"`
	Username  string `json:"Username"`
	Secret    string `json:"Secret"`
}

// notFound is the message docker-credential-helpers clients recognise.
const notFound = "credentials not found in native keychain"

func main() {
	if len(os.Args) != 2 {
		fail("usage: docker-credential-NAME get|store|erase|list")
	}
	dir := filepath.Dir(os.Args[0])
	storePath := filepath.Join(dir, "store.json")
	store := map[string]creds{}
	if b, err := os.ReadFile(storePath); err == nil {
		if err := json.Unmarshal(b, &store); err != nil {
			fail("store.json: " + err.Error())
		}
	}
	in, err := io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
	if err != nil {
		fail(err.Error())
	}
	arg := strings.TrimSpace(string(in))
	logCall(dir, os.Args[1], arg)
	switch os.Args[1] {
	case "get":
		c, ok := store[arg]
		if !ok {
			fail(notFound)
		}
		c.ServerURL = arg
		_ = json.NewEncoder(os.Stdout).Encode(c)
	case "list":
		out := map[string]string{}
		for url, c := range store {
			out[url] = c.Username
		}
		_ = json.NewEncoder(os.Stdout).Encode(out)
	case "store":
		var c creds
		if err := json.Unmarshal(in, &c); err != nil {
			fail(err.Error())
		}
		store[c.ServerURL] = c
		save(storePath, store)
	case "erase":
		delete(store, arg)
		save(storePath, store)
	default:
		fail("unknown action " + os.Args[1])
	}
}

func logCall(dir, action, arg string) {
	if action == "store" {
		arg = "" // holds the secret
	}
	f, err := os.OpenFile(filepath.Join(dir, "calls.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	fmt.Fprintln(f, action, arg)
	f.Close()
}

func save(path string, store map[string]creds) {
	b, _ := json.Marshal(store)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		fail(err.Error())
	}
}

// fail prints msg on stdout, where the protocol's clients read errors.
func fail(msg string) {
	fmt.Println(msg)
	os.Exit(1)
}
