package envbuild

import "strings"

// pkgInfo says how a Python distribution is imported and which Debian
// package provides it.
type pkgInfo struct {
	module string // "" when the distribution has nothing to import (a tool)
	debian string // "" when Debian does not package it
}

// knownPackages covers the distributions of Azure ML's curated
// environments and the common data-science stack. Others follow the
// default rule (module = name with "-" → "_", Debian = python3-<name>).
var knownPackages = map[string]pkgInfo{
	"scikit-learn":           {"sklearn", "python3-sklearn"},
	"sklearn":                {"sklearn", "python3-sklearn"},
	"pandas":                 {"pandas", "python3-pandas"},
	"numpy":                  {"numpy", "python3-numpy"},
	"scipy":                  {"scipy", "python3-scipy"},
	"matplotlib":             {"matplotlib", "python3-matplotlib"},
	"joblib":                 {"joblib", "python3-joblib"},
	"psutil":                 {"psutil", "python3-psutil"},
	"tqdm":                   {"tqdm", "python3-tqdm"},
	"ipykernel":              {"ipykernel", "python3-ipykernel"},
	"debugpy":                {"debugpy", "python3-debugpy"},
	"seaborn":                {"seaborn", "python3-seaborn"},
	"pyyaml":                 {"yaml", "python3-yaml"},
	"pillow":                 {"PIL", "python3-pil"},
	"opencv-python":          {"cv2", "python3-opencv"},
	"opencv-python-headless": {"cv2", "python3-opencv"},
	"requests":               {"requests", "python3-requests"},
	"scikit-image":           {"skimage", "python3-skimage"},
	"statsmodels":            {"statsmodels", "python3-statsmodels"},
	"beautifulsoup4":         {"bs4", "python3-bs4"},
	"python-dateutil":        {"dateutil", "python3-dateutil"},
	"protobuf":               {"google.protobuf", "python3-protobuf"},
	"torch":                  {"torch", "python3-torch"},
	"xgboost":                {"xgboost", "python3-xgboost"},
	"lightgbm":               {"lightgbm", ""},
	"tensorflow":             {"tensorflow", ""},
	"tensorboard":            {"tensorboard", ""},
	"mlflow":                 {"mlflow", ""},
	"py-spy":                 {"", ""},
	"py-cpuinfo":             {"cpuinfo", "python3-cpuinfo"},
	"scikit-learn-intelex":   {"sklearnex", ""},
	"torch-tb-profiler":      {"torch_tb_profiler", ""},
}

// packageInfo returns how to import dist and which Debian package has it.
func packageInfo(dist string) pkgInfo {
	key := strings.ToLower(strings.TrimSpace(dist))
	key = strings.ReplaceAll(key, "_", "-")
	if p, ok := knownPackages[key]; ok {
		return p
	}
	if strings.HasPrefix(key, "azureml-") || strings.HasPrefix(key, "azure-") {
		// Azure's own SDK packages: Debian has python3-azure (the whole SDK)
		// but not the azureml-* v1 packages.
		return pkgInfo{module: "", debian: ""}
	}
	return pkgInfo{module: strings.ReplaceAll(key, "-", "_"), debian: "python3-" + key}
}

// distName is the distribution name at the start of a requirement line
// ("scikit-learn~=1.5.0" → "scikit-learn").
func distName(req string) string {
	end := len(req)
	for i, r := range req {
		if !(r == '-' || r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			end = i
			break
		}
	}
	return req[:end]
}
