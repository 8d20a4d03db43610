package service

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"

	"github.com/mlw-project/mlw/internal/core"
	"github.com/mlw-project/mlw/internal/resource"
	"github.com/mlw-project/mlw/internal/store"
)

// Default vCPU quotas per subscription and region, as a new Azure
// subscription might have them. Owners change them with updateQuotas.
const (
	DefaultFamilyQuota      = 48
	DefaultTotalQuota       = 100
	DefaultLowPriorityQuota = 100
)

// Quota names that are not VM families.
const (
	QuotaTotal       = "totalCores"
	QuotaLowPriority = "lowPriorityCores"
)

// Usage is one line of `compute list-usage`: a family's (or a total's)
// vCPUs in use against its limit.
type Usage struct {
	Name    string
	Display string
	Current int
	Limit   int
}

func quotaKey(loc, name string) string { return "quota|" + core.NormalizeLocation(loc) + "|" + name }

// QuotaLimit returns the limit of one quota in a region.
func (s *Service) QuotaLimit(ctx context.Context, loc, name string) (int, error) {
	v, err := s.Store.GetSetting(ctx, quotaKey(loc, name))
	if errors.Is(err, store.ErrNotFound) {
		switch name {
		case QuotaTotal:
			return DefaultTotalQuota, nil
		case QuotaLowPriority:
			return DefaultLowPriorityQuota, nil
		default:
			return DefaultFamilyQuota, nil
		}
	}
	if err != nil {
		return 0, core.Internal(err)
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, core.Internal(err)
	}
	return n, nil
}

// SetQuotaLimit changes one quota (Owners only).
func (s *Service) SetQuotaLimit(ctx context.Context, loc, name string, limit int) error {
	if p := PrincipalFrom(ctx); p != nil && !p.IsOwner() {
		return core.Forbidden("Only an Owner may change quotas; %q has the %s role.", p.Name, p.Role)
	}
	if limit < 0 {
		return core.Invalid("limit", "A quota limit must be 0 or more, not %d.", limit)
	}
	if name != QuotaTotal && name != QuotaLowPriority && !knownFamily(name) {
		return core.InvalidCode("InvalidVMFamilyName", "name", "Unknown quota %q: use totalCores, lowPriorityCores or a VM family such as standardDSv2Family.", name)
	}
	if err := s.Store.PutSetting(ctx, quotaKey(loc, name), strconv.Itoa(limit)); err != nil {
		return core.Internal(err)
	}
	return nil
}

func knownFamily(f string) bool {
	for _, s := range core.VMSizes() {
		if s.Family == f {
			return true
		}
	}
	return false
}

type demand struct {
	family      string
	vcpus       int
	lowPriority bool
	location    string
}

// usage sums what every compute of a subscription in one region holds.
// skip, if not nil, is left out (the compute being updated).
func (s *Service) usage(ctx context.Context, sub, loc string, skip *resource.Object) (map[string]int, error) {
	cs, err := s.Store.List(ctx, store.ListOptions{Kind: core.KindCompute, ParentPrefix: core.Key(core.SubscriptionPath(sub))})
	if err != nil {
		return nil, core.Internal(err)
	}
	used := map[string]int{}
	for _, c := range cs {
		if skip != nil && c.Kind == skip.Kind && c.Parent == skip.Parent && core.Key(c.Name) == core.Key(skip.Name) {
			continue
		}
		d, ok := s.demandOf(c)
		if !ok {
			continue
		}
		if core.NormalizeLocation(d.location) != core.NormalizeLocation(loc) {
			continue
		}
		add(used, d)
	}
	return used, nil
}

func add(used map[string]int, d demand) {
	if d.lowPriority {
		used[QuotaLowPriority] += d.vcpus
		return
	}
	used[d.family] += d.vcpus
	used[QuotaTotal] += d.vcpus
}

func (s *Service) demandOf(c *resource.Object) (demand, bool) {
	_, ct, ok := s.canonicalComputeType(resource.ComputeTypeOf(c))
	if !ok {
		return demand{}, false
	}
	spec, err := resource.ComputeSpecOf(c)
	if err != nil {
		return demand{}, false
	}
	n, low := ct.Quota(spec)
	return demand{family: spec.Size.Family, vcpus: n, lowPriority: low, location: spec.Location}, true
}

// checkQuota refuses a compute whose vCPUs would exceed a quota. A stopped
// instance still holds its quota, as in Azure.
func (s *Service) checkQuota(ctx context.Context, sub, loc string, a *ComputeAdmission, ct ComputeType, spec *resource.ComputeSpec) error {
	n, low := ct.Quota(spec)
	size := spec.Size
	if n == 0 {
		return nil
	}
	used, err := s.usage(ctx, sub, loc, a.Old)
	if err != nil {
		return err
	}
	check := func(name, display string) error {
		limit, err := s.QuotaLimit(ctx, loc, name)
		if err != nil {
			return err
		}
		if used[name]+n <= limit {
			return nil
		}
		return &core.Error{Status: http.StatusBadRequest, Code: "QuotaExceeded", Target: "properties.properties.vmSize",
			Message: "Operation could not be completed as it results in exceeding approved " + display + " quota. " +
				"Location: " + loc + ", Requested: " + strconv.Itoa(n) + " vCPUs (" + size.Name + "), Current Usage: " + strconv.Itoa(used[name]) +
				", Current Limit: " + strconv.Itoa(limit) + ", (Minimum) New Limit Required: " + strconv.Itoa(used[name]+n) +
				". Free vCPUs by deleting computes or lowering max nodes, or ask an Owner to raise the quota (`mlw compute list-usage`)."}
	}
	if low {
		return check(QuotaLowPriority, "Low Priority vCPUs")
	}
	if err := check(size.Family, size.Family+" vCPUs"); err != nil {
		return err
	}
	return check(QuotaTotal, "Total Regional Dedicated vCPUs")
}

// Usages lists quota usage of a subscription in one region: the totals,
// then every family that has a limit or a use.
func (s *Service) Usages(ctx context.Context, sub, loc string) ([]Usage, error) {
	if _, err := s.GetSubscription(ctx, sub); err != nil {
		return nil, err
	}
	used, err := s.usage(ctx, sub, loc, nil)
	if err != nil {
		return nil, err
	}
	var out []Usage
	for _, q := range []struct{ name, display string }{
		{QuotaTotal, "Total Cluster Dedicated Regional vCPUs"}, {QuotaLowPriority, "Total Cluster LowPriority Regional vCPUs"},
	} {
		limit, err := s.QuotaLimit(ctx, loc, q.name)
		if err != nil {
			return nil, err
		}
		out = append(out, Usage{Name: q.name, Display: q.display, Current: used[q.name], Limit: limit})
	}
	seen := map[string]bool{}
	var families []string
	for _, sz := range core.VMSizes() {
		if !seen[sz.Family] {
			seen[sz.Family] = true
			families = append(families, sz.Family)
		}
	}
	sort.Strings(families)
	for _, f := range families {
		limit, err := s.QuotaLimit(ctx, loc, f)
		if err != nil {
			return nil, err
		}
		out = append(out, Usage{Name: f, Display: core.FamilyDisplayName(f), Current: used[f], Limit: limit})
	}
	return out, nil
}
