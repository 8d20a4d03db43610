package resource

import "time"

// PythonPackage is a Python package a job in an environment imports, with
// the Debian package that provides it on a local runner ("" when Debian has
// none).
type PythonPackage struct {
	// Requirement is the package as the conda file names it ("scikit-learn").
	Requirement string `json:"requirement"`
	// Import is the module to import ("sklearn").
	Import string `json:"import"`
	// Debian is the package that installs it on Debian ("python3-sklearn").
	Debian string `json:"debian,omitempty"`
}

// EnvBuild is what the server knows of a custom environment's build on
// this machine (the reconcilers' environment builder answers it; see
// Service.EnvBuildFunc).
type EnvBuild struct {
	// Needed is false for environments that are never built: curated
	// ones, and custom ones with nothing to install with pip.
	Needed bool
	// LogPath is the build log's file (it may not exist yet).
	LogPath string
	// Building: a build runs now. Ready: a finished build is cached,
	// built at BuiltAt.
	Building bool
	Ready    bool
	BuiltAt  time.Time
}

// ResolvedEnvironment is what a job runs in, resolved from the job's
// environmentId.
type ResolvedEnvironment struct {
	// Name and Version identify the environment version.
	Name    string `json:"name"`
	Version string `json:"version"`
	// ID is its ARM id in the workspace:
	// {workspace}/environments/{name}/versions/{version}.
	ID string `json:"id"`
	// Curated is true for the AzureML- environments of the catalogue.
	Curated     bool   `json:"curated"`
	Description string `json:"description,omitempty"`
	// Image is the Docker image the environment is based on.
	Image string `json:"image,omitempty"`
	// CondaFile is the conda specification (YAML text), if any.
	CondaFile string `json:"condaFile,omitempty"`
	// Python is the Python version the conda file asks for ("3.10"), or "".
	Python string `json:"python,omitempty"`
	// Requirements are the package specifications of the conda file (conda
	// and pip dependencies, without python and pip themselves).
	Requirements []string `json:"requirements,omitempty"`
	// Packages are the Python packages a local runner must provide, with
	// the Debian packages that do, so that a runner can check for them and
	// explain what to install ("apt-get install python3-sklearn").
	Packages []PythonPackage `json:"packages,omitempty"`
}
