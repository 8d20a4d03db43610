// Package e2e drives the real mlw binary the way a user does: it builds
// `mlw` once per test process, starts `mlw server` on a temporary data
// directory and a random loopback port, and talks to it with the real CLI
// and with raw HTTPS. Tests read like scripts:
//
//	func TestSomething(t *testing.T) {
//		t.Parallel()
//		s := e2e.StartServer(t, e2e.Options{})
//		s.MustRun(t, "group", "create", "--name", "rg1", "--location", "eastus")
//		r := s.Do(t, "GET", s.GroupPath("rg1"), nil)
//		require.Equal(t, 200, r.StatusCode, r)
//		s.Restart() // SIGTERM, then start again on the same data directory
//		s.Kill()    // SIGKILL; s.Start() brings it back
//	}
//
// The pieces:
//
//   - [Binary] builds (once) or finds the binary; MLW_E2E_BINARY names a
//     prebuilt one. A test package calls [Main] (or wraps [Runner]) from
//     its TestMain so that the build directory is removed at the end.
//   - [StartServer] returns a running [Server]; [Server.Stop] (SIGTERM, must
//     exit 0), [Server.Kill] (SIGKILL), [Server.Start] and [Server.Restart]
//     control its process; t.Cleanup stops whatever is still running and
//     prints the server's log when the test failed.
//   - [Server.Run], [Server.MustRun] and [Server.MustRunJSON] run the CLI
//     with MLW_HOME pointing at the server's data directory, so the CLI finds
//     the server, its CA and its token as a user's CLI would; [Server.Command]
//     gives the *exec.Cmd for more (stdin, environment), and [RunMLW] runs
//     the binary without a server.
//   - [Server.Do], [Server.NewRequest] and [Server.Send] speak HTTP(S) to the
//     API with a client that trusts the server's CA and sends the admin token
//     from the data directory's "token" file; [Response] holds the answer
//     and decodes ARM errors. [Server.API] is the public Go client, and
//     [Server.CAFile] and [Server.Token] serve clients in other processes
//     (the Azure ML SDK).
//   - [ForEachSDK] runs a test once per generation of Microsoft's azure-ai-ml
//     ([SDK14], Debian 12's 1.4.0; [SDK128], Debian 13's 1.28.0, fetched
//     once into a cache by scripts/azure-ai-ml-trixie.sh); [SDK.Env],
//     [Server.PythonEnv] and [Server.PythonEnv128] give a Python process the
//     exports of `mlw env`, and [Server.RunPython] runs a script with them.
//   - [Await] and the AwaitX methods ([Server.AwaitStatus],
//     [Server.AwaitDoc], [Server.AwaitOperation], [Server.AwaitLog]) poll a
//     condition until it holds; tests never sleep for a fixed time.
//
// Every test gets its own server, so tests may call t.Parallel.
package e2e
