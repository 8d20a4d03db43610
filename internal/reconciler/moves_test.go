package reconciler

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// movesStore is the harness's store with every job state change checked
// against resource.JobMoves: a reconciler (or admission) moving a job in
// a way the table does not list fails the test that did it.
type movesStore struct {
	store.Store
	t *testing.T
}

func (m *movesStore) check(ctx context.Context, tx store.Resources, r *resource.Object) {
	if r.Kind != core.KindJob {
		return
	}
	old, err := tx.Get(ctx, r.Kind, r.Parent, r.Name)
	if err != nil || old.Version != r.Version || old.State == r.State {
		return // gone, or the write will lose its race: not a move
	}
	if !resource.JobMoveAllowed(old.State, r.State) {
		m.t.Errorf("job %s moved %s -> %s, which resource.JobMoves does not list", r.Name, old.State, r.State)
	}
	allMoves.Lock()
	allMoves.m[[2]string{old.State, r.State}]++
	allMoves.Unlock()
}

func (m *movesStore) Update(ctx context.Context, r *resource.Object) error {
	m.check(ctx, m.Store, r)
	return m.Store.Update(ctx, r)
}

func (m *movesStore) InTx(ctx context.Context, fn func(tx store.Resources) error) error {
	return m.Store.InTx(ctx, func(tx store.Resources) error { return fn(&movesTx{Resources: tx, m: m}) })
}

type movesTx struct {
	store.Resources
	m *movesStore
}

func (x *movesTx) Update(ctx context.Context, r *resource.Object) error {
	x.m.check(ctx, x.Resources, r)
	return x.Resources.Update(ctx, r)
}

var allMoves = struct {
	sync.Mutex
	m map[[2]string]int
}{m: map[[2]string]int{}}

func printMoves() {
	if os.Getenv("MLW_PRINT_MOVES") == "" {
		return
	}
	var ks []string
	for k, n := range allMoves.m {
		ks = append(ks, fmt.Sprintf("%s -> %s (%d)", k[0], k[1], n))
	}
	sort.Strings(ks)
	for _, k := range ks {
		fmt.Println(k)
	}
}
