package service_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/identity"
	"github.com/mlw-project/mlw/internal/service"
	"github.com/mlw-project/mlw/internal/store/sqlite"
)

// FuzzARMBodies sends arbitrary bodies through the real admission of
// PUT workspace, compute and job (ReadBody, the typed decoders, defaults
// and validation, a real SQLite store): each is accepted and readable
// again, or refused with a 4xx *core.Error that has a code and a message,
// never a panic or a 500.
func FuzzARMBodies(f *testing.F) {
	for _, b := range []string{
		`{}`, ``, `null`, `[]`, `{"location":"eastus","tags":{"a":"b"},"properties":{"friendlyName":"x","description":"y"}}`,
		`{"properties":{"computeType":"AmlCompute","properties":{"vmSize":"STANDARD_DS11_V2","scaleSettings":{"minNodeCount":0,"maxNodeCount":2,"nodeIdleTimeBeforeScaleDown":"PT120S"}}}}`,
		`{"properties":{"computeType":"ComputeInstance","properties":{"vmSize":"STANDARD_DS1_V2","idleTimeBeforeShutdown":"PT30M","schedules":{"computeStartStop":[{"action":"Stop","cron":{"expression":"0 18 * * *"}}]},"setupScripts":{"scripts":{"creationScript":{"scriptData":"Users/a/s.sh"}}}}}}`,
		`{"properties":{"computeType":"AmlCompute","properties":{"scaleSettings":{"maxNodeCount":-1,"nodeIdleTimeBeforeScaleDown":"P1Y"}}}}`,
		`{"properties":{"computeType":"Kubernetes"}}`, `{"properties":{"computeType":1}}`, `{"properties":"x"}`,
		`{"properties":{"jobType":"Command","command":"python train.py --x ${{inputs.x}}","environmentId":"azureml:AzureML-sklearn-1.5@latest","computeId":"c1","inputs":{"x":{"jobInputType":"literal","value":"7"}},"outputs":{"o":{"jobOutputType":"uri_folder"}},"limits":{"jobLimitsType":"Command","timeout":"PT1H"}}}`,
		`{"properties":{"jobType":"Command","command":"x","environmentId":"e","computeId":"/subscriptions/x/resourceGroups/y/providers/Microsoft.MachineLearningServices/workspaces/z/computes/c1","resources":{"instanceCount":1e99},"distribution":{"distributionType":"PyTorch","processCountPerInstance":-5}}}`,
		`{"properties":{"jobType":"Command","command":"x","computeId":"c1","codeId":"azureml:../../x:1","inputs":{"i":{"jobInputType":"uri_folder","uri":"azureml://datastores/../paths/../../etc"}}}}`,
		`{"properties":{"jobType":"Sweep"}}`, `{"properties":{"jobType":"Command","limits":{"timeout":"PT0.000000015S"}}}`,
		`{"location":"` + "\xff" + `"}`, `{"a":1}{"b":2}`, `{"properties":{"properties":{"vmSize":null}}}`,
	} {
		f.Add([]byte(b), uint8(0))
		f.Add([]byte(b), uint8(1))
		f.Add([]byte(b), uint8(2))
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(f.TempDir(), "mlw.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = st.Close() })
	svc := service.New(st, nil, nil)
	svc.DataDir = f.TempDir()
	svc.DefaultSubscription = "sub-1"
	ctx := service.WithPrincipal(context.Background(), &identity.Principal{UserID: "u1", Name: "alice", Role: identity.RoleOwner})
	must := func(err error) {
		if err != nil {
			f.Fatal(err)
		}
	}
	read := func(s string) *service.Body {
		b, err := service.ReadBody(bytes.NewReader([]byte(s)), 1<<20)
		must(err)
		return b
	}
	must(svc.EnsureSubscription(ctx, "sub-1", "test"))
	_, _, err = svc.PutGroup(ctx, "sub-1", "rg1", read(`{"location":"eastus"}`))
	must(err)
	ref := core.WorkspaceRef{Subscription: "sub-1", ResourceGroup: "rg1", Workspace: "ws1"}
	_, _, err = svc.PutWorkspace(ctx, ref, read(`{}`))
	must(err)
	_, _, _, err = svc.PutCompute(ctx, ref, "c1", read(`{"properties":{"computeType":"AmlCompute","properties":{"vmSize":"STANDARD_DS1_V2","scaleSettings":{"maxNodeCount":1}}}}`))
	must(err)

	f.Fuzz(func(t *testing.T, raw []byte, kind uint8) {
		body, err := service.ReadBody(bytes.NewReader(raw), 1<<20)
		if err != nil {
			clientError(t, raw, err)
			return
		}
		switch kind % 3 {
		case 0:
			other := core.WorkspaceRef{Subscription: "sub-1", ResourceGroup: "rg1", Workspace: "ws2"}
			if _, _, err := svc.PutWorkspace(ctx, other, body); err != nil {
				clientError(t, raw, err)
			} else if _, err := svc.GetWorkspace(ctx, other); err != nil {
				t.Fatalf("a workspace accepted from %q does not read back: %v", raw, err)
			}
		case 1:
			if _, _, _, err := svc.PutCompute(ctx, ref, "c2", body); err != nil {
				clientError(t, raw, err)
			} else if _, _, err := svc.GetCompute(ctx, ref, "c2"); err != nil {
				t.Fatalf("a compute accepted from %q does not read back: %v", raw, err)
			}
		case 2:
			if _, _, err := svc.PutJob(ctx, ref, "j1", body); err != nil {
				clientError(t, raw, err)
			} else if _, _, err := svc.GetJob(ctx, ref, "j1"); err != nil {
				t.Fatalf("a job accepted from %q does not read back: %v", raw, err)
			}
		}
	})
}

// clientError fails unless err is a 4xx *core.Error with a code and a
// message: a bad body is the client's to fix.
func clientError(t *testing.T, raw []byte, err error) {
	t.Helper()
	e, ok := core.AsError(err)
	if !ok || e.Status < 400 || e.Status > 499 || e.Code == "" || e.Message == "" {
		t.Fatalf("body %q: not a 4xx API error: %#v", raw, err)
	}
}
