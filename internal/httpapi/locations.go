package httpapi

import (
	"strings"

	"github.com/mlw-project/mlw/internal/core"
)

const locBase = "/subscriptions/{sub}/providers/Microsoft.MachineLearningServices/locations/{loc}"

func (a *API) locationRoutes() {
	a.Handle("GET", locBase+"/vmSizes", func(r *Request) (any, error) {
		if _, err := a.svc.GetSubscription(r.Ctx(), r.Param("sub")); err != nil {
			return nil, err
		}
		var out []map[string]any
		for _, s := range core.VMSizes() {
			out = append(out, map[string]any{
				"name": s.Name, "family": s.Family, "vCPUs": s.VCPUs, "gpus": s.GPUs, "osVhdSizeMB": s.OSVhdSizeMB,
				"maxResourceVolumeMB": s.MaxResourceVolumeMB, "memoryGB": s.MemoryGB, "lowPriorityCapable": s.LowPriorityCapable,
				"premiumIO": s.PremiumIO, "supportedComputeTypes": []string{"AmlCompute", "ComputeInstance"},
				"estimatedVMPrices": map[string]any{"billingCurrency": "USD", "unitOfMeasure": "OneHour", "values": []map[string]any{
					{"retailPrice": s.PricePerHour, "osType": "Linux", "vmTier": "Standard"},
					{"retailPrice": s.LowPriorityPrice, "osType": "Linux", "vmTier": "LowPriority"},
				}},
			})
		}
		return map[string]any{"value": out}, nil
	})
	usage := func(r *Request, quotas bool) (any, error) {
		us, err := a.svc.Usages(r.Ctx(), r.Param("sub"), r.Param("loc"))
		if err != nil {
			return nil, err
		}
		loc := core.NormalizeLocation(r.Param("loc"))
		var out []map[string]any
		for _, u := range us {
			kind := "usages"
			if quotas {
				kind = "quotas"
			}
			item := map[string]any{
				"id":                   "/subscriptions/" + r.Param("sub") + "/providers/" + core.Provider + "/locations/" + loc + "/" + kind + "/" + u.Name,
				"amlWorkspaceLocation": loc, "type": core.Provider + "/" + kind, "unit": "Count", "limit": u.Limit,
				"name": map[string]any{"value": u.Name, "localizedValue": u.Display},
			}
			if !quotas {
				item["currentValue"] = u.Current
			}
			out = append(out, item)
		}
		return list(r, out, ""), nil
	}
	a.Handle("GET", locBase+"/usages", func(r *Request) (any, error) { return usage(r, false) })
	a.Handle("GET", locBase+"/quotas", func(r *Request) (any, error) { return usage(r, true) })
	a.Handle("POST", locBase+"/updateQuotas", func(r *Request) (any, error) {
		body, err := r.Body()
		if err != nil {
			return nil, err
		}
		var req struct {
			Value []struct {
				ID    string `json:"id"`
				Limit int    `json:"limit"`
			} `json:"value"`
		}
		if err := body.Into(&req); err != nil {
			return nil, err
		}
		var out []map[string]any
		for _, q := range req.Value {
			name := q.ID[strings.LastIndex(q.ID, "/")+1:]
			status := "Success"
			if err := a.svc.SetQuotaLimit(r.Ctx(), r.Param("loc"), name, q.Limit); err != nil {
				if e, ok := core.AsError(err); ok && e.Status == 403 {
					return nil, err
				}
				status = "InvalidVMFamilyName"
			}
			out = append(out, map[string]any{"id": q.ID, "type": core.Provider + "/quotas", "limit": q.Limit, "unit": "Count", "status": status})
		}
		return map[string]any{"value": out}, nil
	})
}
