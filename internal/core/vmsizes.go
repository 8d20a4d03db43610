package core

import (
	"sort"
	"strings"
)

// VMSize is one entry of the VM size catalogue, with Azure's names and
// figures (hourly prices are eastus Linux list prices, for display only).
type VMSize struct {
	Name                string
	Family              string
	VCPUs               int
	MemoryGB            float64
	GPUs                int
	OSVhdSizeMB         int
	MaxResourceVolumeMB int
	LowPriorityCapable  bool
	PremiumIO           bool
	PricePerHour        float64
	LowPriorityPrice    float64
}

// MemoryMB is the size's memory in MiB.
func (s VMSize) MemoryMB() int64 { return int64(s.MemoryGB * 1024) }

var vmSizes = []VMSize{
	{Name: "Standard_DS1_v2", Family: "standardDSv2Family", VCPUs: 1, MemoryGB: 3.5, OSVhdSizeMB: 1047552, MaxResourceVolumeMB: 7168, LowPriorityCapable: true, PremiumIO: true, PricePerHour: 0.073, LowPriorityPrice: 0.0146},
	{Name: "Standard_DS2_v2", Family: "standardDSv2Family", VCPUs: 2, MemoryGB: 7, OSVhdSizeMB: 1047552, MaxResourceVolumeMB: 14336, LowPriorityCapable: true, PremiumIO: true, PricePerHour: 0.146, LowPriorityPrice: 0.0292},
	{Name: "Standard_DS3_v2", Family: "standardDSv2Family", VCPUs: 4, MemoryGB: 14, OSVhdSizeMB: 1047552, MaxResourceVolumeMB: 28672, LowPriorityCapable: true, PremiumIO: true, PricePerHour: 0.293, LowPriorityPrice: 0.0586},
	{Name: "Standard_DS4_v2", Family: "standardDSv2Family", VCPUs: 8, MemoryGB: 28, OSVhdSizeMB: 1047552, MaxResourceVolumeMB: 57344, LowPriorityCapable: true, PremiumIO: true, PricePerHour: 0.585, LowPriorityPrice: 0.117},
	{Name: "Standard_DS5_v2", Family: "standardDSv2Family", VCPUs: 16, MemoryGB: 56, OSVhdSizeMB: 1047552, MaxResourceVolumeMB: 114688, LowPriorityCapable: true, PremiumIO: true, PricePerHour: 1.17, LowPriorityPrice: 0.234},
	{Name: "Standard_DS11_v2", Family: "standardDSv2Family", VCPUs: 2, MemoryGB: 14, OSVhdSizeMB: 1047552, MaxResourceVolumeMB: 28672, LowPriorityCapable: true, PremiumIO: true, PricePerHour: 0.185, LowPriorityPrice: 0.037},
	{Name: "Standard_DS12_v2", Family: "standardDSv2Family", VCPUs: 4, MemoryGB: 28, OSVhdSizeMB: 1047552, MaxResourceVolumeMB: 57344, LowPriorityCapable: true, PremiumIO: true, PricePerHour: 0.371, LowPriorityPrice: 0.0742},
	{Name: "Standard_DS13_v2", Family: "standardDSv2Family", VCPUs: 8, MemoryGB: 56, OSVhdSizeMB: 1047552, MaxResourceVolumeMB: 114688, LowPriorityCapable: true, PremiumIO: true, PricePerHour: 0.741, LowPriorityPrice: 0.1482},
	{Name: "Standard_D2s_v3", Family: "standardDSv3Family", VCPUs: 2, MemoryGB: 8, OSVhdSizeMB: 1047552, MaxResourceVolumeMB: 16384, LowPriorityCapable: true, PremiumIO: true, PricePerHour: 0.096, LowPriorityPrice: 0.0192},
	{Name: "Standard_D4s_v3", Family: "standardDSv3Family", VCPUs: 4, MemoryGB: 16, OSVhdSizeMB: 1047552, MaxResourceVolumeMB: 32768, LowPriorityCapable: true, PremiumIO: true, PricePerHour: 0.192, LowPriorityPrice: 0.0384},
	{Name: "Standard_D8s_v3", Family: "standardDSv3Family", VCPUs: 8, MemoryGB: 32, OSVhdSizeMB: 1047552, MaxResourceVolumeMB: 65536, LowPriorityCapable: true, PremiumIO: true, PricePerHour: 0.384, LowPriorityPrice: 0.0768},
	{Name: "Standard_E4s_v3", Family: "standardESv3Family", VCPUs: 4, MemoryGB: 32, OSVhdSizeMB: 1047552, MaxResourceVolumeMB: 65536, LowPriorityCapable: true, PremiumIO: true, PricePerHour: 0.252, LowPriorityPrice: 0.0504},
	{Name: "Standard_F4s_v2", Family: "standardFSv2Family", VCPUs: 4, MemoryGB: 8, OSVhdSizeMB: 1047552, MaxResourceVolumeMB: 32768, LowPriorityCapable: true, PremiumIO: true, PricePerHour: 0.169, LowPriorityPrice: 0.0338},
	{Name: "Standard_NC4as_T4_v3", Family: "standardNCASv3_T4Family", VCPUs: 4, MemoryGB: 28, GPUs: 1, OSVhdSizeMB: 1047552, MaxResourceVolumeMB: 180224, LowPriorityCapable: true, PremiumIO: true, PricePerHour: 0.526, LowPriorityPrice: 0.1052},
	{Name: "Standard_NC6s_v3", Family: "standardNCSv3Family", VCPUs: 6, MemoryGB: 112, GPUs: 1, OSVhdSizeMB: 1047552, MaxResourceVolumeMB: 344064, LowPriorityCapable: true, PremiumIO: true, PricePerHour: 3.06, LowPriorityPrice: 0.612},
	{Name: "Standard_NC12s_v3", Family: "standardNCSv3Family", VCPUs: 12, MemoryGB: 224, GPUs: 2, OSVhdSizeMB: 1047552, MaxResourceVolumeMB: 688128, LowPriorityCapable: true, PremiumIO: true, PricePerHour: 6.12, LowPriorityPrice: 1.224},
	{Name: "Standard_NC24ads_A100_v4", Family: "standardNCADSA100v4Family", VCPUs: 24, MemoryGB: 220, GPUs: 1, OSVhdSizeMB: 1047552, MaxResourceVolumeMB: 65536, LowPriorityCapable: true, PremiumIO: true, PricePerHour: 3.673, LowPriorityPrice: 0.7346},
}

// VMSizes returns the catalogue, ordered by name.
func VMSizes() []VMSize {
	out := append([]VMSize(nil), vmSizes...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LookupVMSize finds a size by name, ignoring case ("STANDARD_DS11_V2").
func LookupVMSize(name string) (VMSize, bool) {
	for _, s := range vmSizes {
		if strings.EqualFold(s.Name, name) {
			return s, true
		}
	}
	return VMSize{}, false
}

// VMSizeNames lists the catalogue's names, for error messages.
func VMSizeNames() string {
	names := make([]string, 0, len(vmSizes))
	for _, s := range VMSizes() {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}

// FamilyDisplayName is how Azure shows a family in usage lists.
func FamilyDisplayName(family string) string {
	f := strings.TrimPrefix(family, "standard")
	f = strings.TrimSuffix(f, "Family")
	return "Standard " + f + " Family vCPUs"
}
