package main

import "sync"

// warnSink collects the run's warnings (notary's advice, e.g. trust on
// first use without --pin-root): printed after a successful run only, so
// that a failure stays one line, and annotated on GitHub. Adapters add to
// it from several goroutines.
type warnSink struct {
	mu   sync.Mutex
	list []string
}

func (w *warnSink) Add(msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, msg)
}

// All are the warnings so far, in order.
func (w *warnSink) All() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.list...)
}
