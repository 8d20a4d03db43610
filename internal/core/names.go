package core

import (
	"regexp"
	"strings"
	"unicode"
)

var (
	workspaceNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}$`)
	computeNameRE   = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9]$`)
	jobNameRE       = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]{0,254}$`)
	assetNameRE     = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$`)
	assetVersionRE  = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$`)
)

// ValidateGroupName applies Azure's resource group rules: 1 to 90 letters,
// digits, underscores, parentheses, hyphens and periods, not ending in a period.
func ValidateGroupName(name string) error {
	const rule = "Resource group names are 1 to 90 characters: letters, digits, underscores, parentheses, hyphens and periods, and may not end with a period."
	if name == "" || len([]rune(name)) > 90 || strings.HasSuffix(name, ".") {
		return Invalid("resourceGroupName", "Invalid resource group name %q. %s", name, rule)
	}
	for _, r := range name {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("_()-.", r)) {
			return Invalid("resourceGroupName", "Invalid resource group name %q: character %q is not allowed. %s", name, r, rule)
		}
	}
	return nil
}

// ValidateWorkspaceName applies Azure ML's workspace name rule.
func ValidateWorkspaceName(name string) error {
	if !workspaceNameRE.MatchString(name) {
		return Invalid("workspaceName", "Invalid workspace name %q. Workspace names are 3 to 33 characters: letters, digits, hyphens and underscores, starting with a letter or digit.", name)
	}
	return nil
}

// ValidateComputeName applies Azure ML's compute name rules: letters, digits
// and hyphens, starting with a letter and not ending with a hyphen; 3 to 24
// characters for compute instances and 2 to 16 for clusters.
func ValidateComputeName(name string, instance bool) error {
	lo, hi, what := 2, 16, "Compute cluster"
	if instance {
		lo, hi, what = 3, 24, "Compute instance"
	}
	if len(name) < lo || len(name) > hi || !computeNameRE.MatchString(name) {
		return Invalid("name", "Invalid compute name %q. %s names are %d to %d characters: letters, digits and hyphens, starting with a letter and ending with a letter or digit.", name, what, lo, hi)
	}
	return nil
}

// ValidateJobName applies Azure ML's job name rule.
func ValidateJobName(name string) error {
	if !jobNameRE.MatchString(name) {
		return Invalid("name", "Invalid job name %q. Job names are 1 to 255 characters: letters, digits, hyphens and underscores, starting with a letter or digit.", name)
	}
	return nil
}

// ValidateAssetName applies Azure ML's rule for environment and code names.
func ValidateAssetName(name string) error {
	if !assetNameRE.MatchString(name) {
		return Invalid("name", "Invalid asset name %q. Names are 1 to 255 characters: letters, digits, hyphens, underscores and periods, starting with a letter or digit.", name)
	}
	return nil
}

// ValidateAssetVersion applies Azure ML's rule for asset versions.
func ValidateAssetVersion(v string) error {
	if !assetVersionRE.MatchString(v) {
		return Invalid("version", "Invalid version %q. Versions are 1 to 255 characters: letters, digits, hyphens, underscores and periods, starting with a letter or digit.", v)
	}
	return nil
}
