// Package postgres opens mlw's scale-out store on PostgreSQL (pgx).
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/mlw-project/mlw/internal/store/sqlstore"
)

func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// Open connects to the database at url (postgres://user:pass@host:port/db).
func Open(ctx context.Context, url string) (*sqlstore.Store, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	s, err := sqlstore.New(ctx, db, db, sqlstore.Dialect{Name: "postgres", Numbered: true, IsUnique: isUnique}, db.Close)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.OnClose(startAnalyzer(db)) // analyze.go
	return s, nil
}
