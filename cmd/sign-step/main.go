// Command sign-step signs container image tags in a Notary v1 (Docker Content
// Trust) server without a Docker daemon.
package main

func main() {}
