// Package backend defines what reconcilers need from a compute engine: a
// place to run compute instances and cluster nodes, and a way to run job
// processes on them. Implementations: local/ (processes on this machine,
// the embedded default) and fake/ (in memory, for reconciler unit tests).
// Only reconcilers call backends; handlers and admission never do.
//
// Contracts common to every backend:
//   - Operations are idempotent: starting what is started, or stopping what
//     is stopped, succeeds and changes nothing.
//   - Handles are plain data saved in the store, so that after a restart of
//     `mlw server` a backend reattaches to what still runs.
//   - Calls may block on I/O but never wait for user work to finish; the
//     reconciler polls.
package backend
