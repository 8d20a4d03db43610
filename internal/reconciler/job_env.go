package reconciler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/envbuild"
	"github.com/mlw-project/mlw/internal/resource"
)

// JobAssets is what the job reconciler needs to look up in the workspace:
// the environment, the code snapshot and the data a job refers to.
// *service.Service implements it.
type JobAssets interface {
	ResolveEnvironment(ctx context.Context, ref core.WorkspaceRef, environmentID string) (*resource.ResolvedEnvironment, error)
	JobCode(ctx context.Context, ws *resource.Object, codeID string) (*resource.DataLocation, error)
	ResolveDataURI(ctx context.Context, ws *resource.Object, uri string) (*resource.DataLocation, error)
}

// PreparedEnv is how to run a command in a prepared environment.
type PreparedEnv struct {
	// Python is the interpreter's absolute path.
	Python string
	// Environ returns base with the environment's variables set and its
	// interpreter first on PATH (as `python` and `python3`).
	Environ func(base []string) []string
}

// EnvPreparer makes a job's environment ready on this machine. Progress
// goes to log (the job's preparation log). A failure the user can fix
// (missing packages, an unreachable package index) is an *EnvError.
type EnvPreparer interface {
	Prepare(ctx context.Context, env *resource.ResolvedEnvironment, log io.Writer) (*PreparedEnv, error)
}

// EnvError is a preparation failure whose message tells the user what to
// do; it becomes the job's error.
type EnvError struct {
	Code    string
	Message string
	// Logged says that Prepare wrote Message to its log (the job's
	// lifecycle log), so that the job's end need not repeat it.
	Logged bool
}

func (e *EnvError) Error() string { return e.Message }

// EnvBuilder adapts envbuild.Builder (curated environments checked on the
// system Python, custom ones built into cached virtualenvs) to EnvPreparer.
type EnvBuilder struct {
	Builder *envbuild.Builder
}

func buildSpec(env *resource.ResolvedEnvironment) envbuild.Spec {
	spec := envbuild.Spec{Name: env.Name, Version: env.Version, Curated: env.Curated, CondaFile: env.CondaFile, Image: env.Image}
	for _, p := range env.Packages {
		spec.Packages = append(spec.Packages, envbuild.Package{Name: p.Requirement, Module: p.Import, Debian: p.Debian})
	}
	return spec
}

// Build says what is known of env's build (service.Service.EnvBuildFunc):
// the build log the studio shows.
func (e EnvBuilder) Build(env *resource.ResolvedEnvironment) resource.EnvBuild {
	st := e.Builder.State(buildSpec(env))
	return resource.EnvBuild{Needed: st.Needed, LogPath: st.Log, Building: st.Building, Ready: st.Ready, BuiltAt: st.BuiltAt}
}

// Prepare implements EnvPreparer.
func (e EnvBuilder) Prepare(ctx context.Context, env *resource.ResolvedEnvironment, log io.Writer) (*PreparedEnv, error) {
	rt, err := e.Builder.Prepare(ctx, buildSpec(env), log)
	if err != nil {
		var be *envbuild.Error
		if errors.As(err, &be) {
			code := "EnvironmentBuildFailed"
			switch {
			case errors.Is(err, envbuild.ErrMissingPackages):
				code = "EnvironmentPackagesMissing"
			case errors.Is(err, envbuild.ErrIndexUnreachable):
				code = "PackageIndexUnreachable"
			}
			// envbuild writes every error it returns to the log.
			return nil, &EnvError{Code: code, Message: be.Message, Logged: true}
		}
		return nil, err
	}
	return &PreparedEnv{Python: rt.Python, Environ: rt.Environ}, nil
}

// curatedTTL is how long a curated environment, once prepared (its
// packages checked), is reused without asking the preparer again (which
// keeps its own check for a minute): the jobs of a busy cluster would
// otherwise each pay for parsing its definition and looking at the
// interpreter.
const curatedTTL = 5 * time.Second

// preparedEnv is a prepared curated environment and what preparing it
// logged (written again to the log of each job that reuses it).
type preparedEnv struct {
	env *PreparedEnv
	log []byte
	at  time.Time
}

// prepareCurated prepares a curated environment, reusing a preparation of
// the last few seconds. Failures are not kept.
func (r *Jobs) prepareCurated(ctx context.Context, prep EnvPreparer, env *resource.ResolvedEnvironment, log io.Writer) (*PreparedEnv, error) {
	key := fmt.Sprintf("%s\x00%s\x00%p", env.ID, env.Image, prep)
	now := time.Now()
	r.cacheMu.Lock()
	c, ok := r.prepared[key]
	r.cacheMu.Unlock()
	if ok && now.Sub(c.at) < curatedTTL {
		_, _ = log.Write(c.log)
		return c.env, nil
	}
	var out bytes.Buffer
	penv, err := prep.Prepare(ctx, env, &out)
	_, _ = log.Write(out.Bytes())
	if err != nil {
		return nil, err
	}
	r.cacheMu.Lock()
	if r.prepared == nil {
		r.prepared = map[string]preparedEnv{}
	}
	r.prepared[key] = preparedEnv{env: penv, log: out.Bytes(), at: now}
	r.cacheMu.Unlock()
	return penv, nil
}
