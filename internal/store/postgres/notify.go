package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Channel is the PostgreSQL notification channel on which replicas pass
// reconcile keys to the leader.
const Channel = "mlw_enqueue"

// maxPayload keeps a notification under PostgreSQL's 8000-byte limit.
const maxPayload = 7000

// Notifier passes reconcile keys between replicas sharing one database
// with LISTEN/NOTIFY: a replica that accepts a write it does not reconcile
// itself sends the key, and the leader, listening, enqueues it at once
// instead of at its next resync. Keys are a hint: the leader's periodic
// resync is what guarantees nothing is missed (a notification sent while
// no one listens is gone).
type Notifier struct {
	// id starts each payload this Notifier sends, so that it ignores its
	// own (it sends and listens on two connections).
	id   string
	url  string
	keys chan string
	log  func(msg string, args ...any)
}

// NewNotifier returns a Notifier for the database at url. Run starts it.
func NewNotifier(url string, log func(msg string, args ...any)) *Notifier {
	return &Notifier{id: uuid.NewString(), url: url, keys: make(chan string, 4096), log: log}
}

// Send queues kind and key for the other replicas. It never blocks: when
// the buffer is full the key is dropped, and the resync finds it.
func (n *Notifier) Send(kind, key string) {
	select {
	case n.keys <- kind + "\t" + key:
	default:
	}
}

// Run listens until ctx ends, calling got for every key another replica
// sent, and sends the queued keys in batches, reconnecting after errors.
func (n *Notifier) Run(ctx context.Context, got func(kind, key string)) {
	go n.sendLoop(ctx)
	for ctx.Err() == nil {
		if err := n.listen(ctx, got); err != nil && ctx.Err() == nil {
			n.log("listen for other replicas' keys", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (n *Notifier) listen(ctx context.Context, got func(kind, key string)) error {
	conn, err := pgx.Connect(ctx, n.url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return err
	}
	for {
		msg, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		from, keys, _ := strings.Cut(msg.Payload, "\n")
		if from == n.id {
			continue
		}
		for _, line := range strings.Split(keys, "\n") {
			if kind, key, ok := strings.Cut(line, "\t"); ok {
				got(kind, key)
			}
		}
	}
}

// sendLoop sends queued keys, as many as fit in one notification at a
// time, on a connection of its own.
func (n *Notifier) sendLoop(ctx context.Context) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for {
		var first string
		select {
		case <-ctx.Done():
			return
		case first = <-n.keys:
		}
		batch := []string{n.id, first}
		size := len(n.id) + len(first)
	more:
		for size < maxPayload {
			select {
			case k := <-n.keys:
				batch = append(batch, k)
				size += len(k) + 1
			default:
				break more
			}
		}
		var err error
		if conn == nil {
			if conn, err = pgx.Connect(ctx, n.url); err != nil {
				conn = nil
				n.log("notify other replicas", "err", err)
				continue // dropped: the leader's resync finds these keys
			}
		}
		if _, err = conn.Exec(ctx, "SELECT pg_notify($1, $2)", Channel, strings.Join(batch, "\n")); err != nil {
			n.log("notify other replicas", "err", err)
			conn.Close(context.Background())
			conn = nil
		}
	}
}
