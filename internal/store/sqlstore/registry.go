package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mlw-project/mlw/internal/store"
	"github.com/mlw-project/mlw/internal/tracking"
)

// MLflow's model registry (store.Registry). Registries are small (models
// by the hundred), so searches filter in admission over these lists.

func docText(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// CreateRegisteredModel implements store.Registry.
func (s *Store) CreateRegisteredModel(ctx context.Context, m *tracking.RegisteredModel) error {
	doc, err := docText(m)
	if err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx, s.d.q(`INSERT INTO mlflow_registered_models (workspace, name, creation_time, last_updated_time, doc) VALUES (?,?,?,?,?)`),
		m.Workspace, m.Name, m.CreationTime, m.LastUpdatedTime, doc)
	if err != nil && s.d.IsUnique(err) {
		return fmt.Errorf("registered model %q: %w", m.Name, store.ErrExists)
	}
	return err
}

func scanModel(sc interface{ Scan(...any) error }) (*tracking.RegisteredModel, error) {
	var m tracking.RegisteredModel
	var doc string
	if err := sc.Scan(&m.Workspace, &m.Name, &m.CreationTime, &m.LastUpdatedTime, &doc); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		return nil, fmt.Errorf("registered model %q: %w", m.Name, err)
	}
	return &m, nil
}

const modelCols = `workspace, name, creation_time, last_updated_time, doc`

func (s *Store) getModel(ctx context.Context, q querier, ws, name string) (*tracking.RegisteredModel, error) {
	m, err := scanModel(q.QueryRowContext(ctx, s.d.q(`SELECT `+modelCols+` FROM mlflow_registered_models WHERE workspace = ? AND name = ?`), ws, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("registered model %q: %w", name, store.ErrNotFound)
	}
	return m, err
}

// GetRegisteredModel implements store.Registry.
func (s *Store) GetRegisteredModel(ctx context.Context, ws, name string) (*tracking.RegisteredModel, error) {
	return s.getModel(ctx, s.r, ws, name)
}

// ListRegisteredModels implements store.Registry.
func (s *Store) ListRegisteredModels(ctx context.Context, ws string) ([]*tracking.RegisteredModel, error) {
	rows, err := s.r.QueryContext(ctx, s.d.q(`SELECT `+modelCols+` FROM mlflow_registered_models WHERE workspace = ? ORDER BY name`), ws)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*tracking.RegisteredModel
	for rows.Next() {
		m, err := scanModel(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// UpdateRegisteredModel implements store.Registry.
func (s *Store) UpdateRegisteredModel(ctx context.Context, ws, name string, fn func(*tracking.RegisteredModel) error) (*tracking.RegisteredModel, error) {
	var out *tracking.RegisteredModel
	err := s.txq(ctx, func(q querier) error {
		m, err := s.getModel(ctx, q, ws, name)
		if err != nil {
			return err
		}
		if err := fn(m); err != nil {
			return err
		}
		doc, err := docText(m)
		if err != nil {
			return err
		}
		_, err = q.ExecContext(ctx, s.d.q(`UPDATE mlflow_registered_models SET last_updated_time = ?, doc = ? WHERE workspace = ? AND name = ?`),
			m.LastUpdatedTime, doc, ws, name)
		out = m
		return err
	})
	return out, err
}

// RenameRegisteredModel implements store.Registry.
func (s *Store) RenameRegisteredModel(ctx context.Context, ws, name, newName string, now int64) error {
	err := s.txq(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, s.d.q(`UPDATE mlflow_registered_models SET name = ?, last_updated_time = ? WHERE workspace = ? AND name = ?`), newName, now, ws, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("registered model %q: %w", name, store.ErrNotFound)
		}
		_, err = q.ExecContext(ctx, s.d.q(`UPDATE mlflow_model_versions SET name = ? WHERE workspace = ? AND name = ?`), newName, ws, name)
		return err
	})
	if err != nil && s.d.IsUnique(err) {
		return fmt.Errorf("registered model %q: %w", newName, store.ErrExists)
	}
	return err
}

// DeleteRegisteredModel implements store.Registry.
func (s *Store) DeleteRegisteredModel(ctx context.Context, ws, name string) error {
	return s.txq(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, s.d.q(`DELETE FROM mlflow_registered_models WHERE workspace = ? AND name = ?`), ws, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("registered model %q: %w", name, store.ErrNotFound)
		}
		_, err = q.ExecContext(ctx, s.d.q(`DELETE FROM mlflow_model_versions WHERE workspace = ? AND name = ?`), ws, name)
		return err
	})
}

const versionCols = `workspace, name, version, current_stage, creation_time, last_updated_time, doc`

func scanVersion(sc interface{ Scan(...any) error }) (*tracking.ModelVersion, error) {
	var v tracking.ModelVersion
	var doc string
	if err := sc.Scan(&v.Workspace, &v.Name, &v.Version, &v.CurrentStage, &v.CreationTime, &v.LastUpdatedTime, &doc); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		return nil, fmt.Errorf("model version %s %d: %w", v.Name, v.Version, err)
	}
	return &v, nil
}

// CreateModelVersion implements store.Registry.
func (s *Store) CreateModelVersion(ctx context.Context, v *tracking.ModelVersion) error {
	explicit := v.Version > 0
	for range 5 {
		err := s.txq(ctx, func(q querier) error {
			if _, err := s.getModel(ctx, q, v.Workspace, v.Name); err != nil {
				return err
			}
			if !explicit {
				var last int64
				if err := q.QueryRowContext(ctx, s.d.q(`SELECT COALESCE(MAX(version), 0) FROM mlflow_model_versions WHERE workspace = ? AND name = ?`), v.Workspace, v.Name).Scan(&last); err != nil {
					return err
				}
				v.Version = last + 1
			}
			doc, err := docText(v)
			if err != nil {
				return err
			}
			if _, err := q.ExecContext(ctx, s.d.q(`INSERT INTO mlflow_model_versions (`+versionCols+`) VALUES (?,?,?,?,?,?,?)`),
				v.Workspace, v.Name, v.Version, v.CurrentStage, v.CreationTime, v.LastUpdatedTime, doc); err != nil {
				return err
			}
			_, err = q.ExecContext(ctx, s.d.q(`UPDATE mlflow_registered_models SET last_updated_time = ? WHERE workspace = ? AND name = ?`), v.LastUpdatedTime, v.Workspace, v.Name)
			return err
		})
		if err == nil || !s.d.IsUnique(err) {
			return err
		}
		if explicit {
			return fmt.Errorf("model version %s %d: %w", v.Name, v.Version, store.ErrExists)
		}
		// Another replica took the number: take the next.
	}
	return fmt.Errorf("model version of %q: %w", v.Name, store.ErrConflict)
}

func (s *Store) getVersion(ctx context.Context, q querier, ws, name string, version int64) (*tracking.ModelVersion, error) {
	v, err := scanVersion(q.QueryRowContext(ctx, s.d.q(`SELECT `+versionCols+` FROM mlflow_model_versions WHERE workspace = ? AND name = ? AND version = ?`), ws, name, version))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("model version %s %d: %w", name, version, store.ErrNotFound)
	}
	return v, err
}

// GetModelVersion implements store.Registry.
func (s *Store) GetModelVersion(ctx context.Context, ws, name string, version int64) (*tracking.ModelVersion, error) {
	return s.getVersion(ctx, s.r, ws, name, version)
}

// ListModelVersions implements store.Registry.
func (s *Store) ListModelVersions(ctx context.Context, ws, name string) ([]*tracking.ModelVersion, error) {
	query, args := `SELECT `+versionCols+` FROM mlflow_model_versions WHERE workspace = ?`, []any{ws}
	if name != "" {
		query += ` AND name = ?`
		args = append(args, name)
	}
	rows, err := s.r.QueryContext(ctx, s.d.q(query+` ORDER BY name, version`), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*tracking.ModelVersion
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// UpdateModelVersion implements store.Registry.
func (s *Store) UpdateModelVersion(ctx context.Context, ws, name string, version int64, fn func(*tracking.ModelVersion) error) (*tracking.ModelVersion, error) {
	var out *tracking.ModelVersion
	err := s.txq(ctx, func(q querier) error {
		v, err := s.getVersion(ctx, q, ws, name, version)
		if err != nil {
			return err
		}
		if err := fn(v); err != nil {
			return err
		}
		doc, err := docText(v)
		if err != nil {
			return err
		}
		_, err = q.ExecContext(ctx, s.d.q(`UPDATE mlflow_model_versions SET current_stage = ?, last_updated_time = ?, doc = ? WHERE workspace = ? AND name = ? AND version = ?`),
			v.CurrentStage, v.LastUpdatedTime, doc, ws, name, version)
		out = v
		return err
	})
	return out, err
}

// DeleteModelVersion implements store.Registry.
func (s *Store) DeleteModelVersion(ctx context.Context, ws, name string, version int64) error {
	res, err := s.w.ExecContext(ctx, s.d.q(`DELETE FROM mlflow_model_versions WHERE workspace = ? AND name = ? AND version = ?`), ws, name, version)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("model version %s %d: %w", name, version, store.ErrNotFound)
	}
	return nil
}
