package core

// Region is an Azure public-cloud region as `az account list-locations`
// shows it. mlw accepts any region name on a resource (every region is this
// machine); the table only answers the clients that list them.
type Region struct {
	Name        string // "eastus"
	DisplayName string // "East US"
	Geography   string // the geography group: "US", "Europe", ...
}

// RegionalDisplayName is Azure's "(US) East US".
func (r Region) RegionalDisplayName() string { return "(" + r.Geography + ") " + r.DisplayName }

// Regions are Azure's public physical regions (from `az account
// list-locations` of the public cloud), in its order: the recommended
// regions first.
func Regions() []Region { return regions }

var regions = []Region{
	{"eastus", "East US", "US"},
	{"eastus2", "East US 2", "US"},
	{"southcentralus", "South Central US", "US"},
	{"westus2", "West US 2", "US"},
	{"westus3", "West US 3", "US"},
	{"australiaeast", "Australia East", "Asia Pacific"},
	{"southeastasia", "Southeast Asia", "Asia Pacific"},
	{"northeurope", "North Europe", "Europe"},
	{"swedencentral", "Sweden Central", "Europe"},
	{"uksouth", "UK South", "Europe"},
	{"westeurope", "West Europe", "Europe"},
	{"centralus", "Central US", "US"},
	{"southafricanorth", "South Africa North", "Africa"},
	{"centralindia", "Central India", "Asia Pacific"},
	{"eastasia", "East Asia", "Asia Pacific"},
	{"japaneast", "Japan East", "Asia Pacific"},
	{"koreacentral", "Korea Central", "Asia Pacific"},
	{"canadacentral", "Canada Central", "Canada"},
	{"francecentral", "France Central", "Europe"},
	{"germanywestcentral", "Germany West Central", "Europe"},
	{"italynorth", "Italy North", "Europe"},
	{"norwayeast", "Norway East", "Europe"},
	{"polandcentral", "Poland Central", "Europe"},
	{"switzerlandnorth", "Switzerland North", "Europe"},
	{"uaenorth", "UAE North", "Middle East"},
	{"brazilsouth", "Brazil South", "South America"},
	{"israelcentral", "Israel Central", "Middle East"},
	{"qatarcentral", "Qatar Central", "Middle East"},
	{"northcentralus", "North Central US", "US"},
	{"westus", "West US", "US"},
	{"japanwest", "Japan West", "Asia Pacific"},
	{"westcentralus", "West Central US", "US"},
	{"southafricawest", "South Africa West", "Africa"},
	{"australiacentral", "Australia Central", "Asia Pacific"},
	{"australiasoutheast", "Australia Southeast", "Asia Pacific"},
	{"southindia", "South India", "Asia Pacific"},
	{"westindia", "West India", "Asia Pacific"},
	{"koreasouth", "Korea South", "Asia Pacific"},
	{"canadaeast", "Canada East", "Canada"},
	{"francesouth", "France South", "Europe"},
	{"germanynorth", "Germany North", "Europe"},
	{"norwaywest", "Norway West", "Europe"},
	{"switzerlandwest", "Switzerland West", "Europe"},
	{"ukwest", "UK West", "Europe"},
	{"uaecentral", "UAE Central", "Middle East"},
	{"brazilsoutheast", "Brazil Southeast", "South America"},
}
