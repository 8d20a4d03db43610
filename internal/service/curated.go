package service

import (
	"strconv"
	"strings"
	"time"

	"github.com/mlw-project/mlw/internal/resource"
)

// Curated environments are Azure ML's prebuilt environments ("AzureML-…").
// Every workspace serves them, from this catalogue rather than from rows;
// users cannot create environments with the reserved prefix. The same
// environments are reachable as registry assets of the "azureml" registry
// (azureml://registries/azureml/environments/sklearn-1.5/versions/5).
//
// Where the catalogue comes from: names, descriptions, tags, images and
// conda files follow Azure ML's published curated environments
// (azureml-assets, assets/training/general/environments; azureml-resources
// §4). Version numbers are at least what the DP-100 labs ask for: Azure
// publishes a new version of each about every two weeks, and the labs pin
// versions they saw (AzureML-sklearn-1.0-ubuntu20.04-py38-cpu:44). Every
// version from 1 to Latest serves the same contents: the local backend
// runs them all on Debian's Python. To serve a newer version a lab names,
// raise Latest here (docs/jobs-cli.md, "Curated environments").

// CuratedPrefix starts the name of every curated environment.
const CuratedPrefix = "AzureML-"

// CuratedEnvironment is one entry of the catalogue.
type CuratedEnvironment struct {
	Name string
	// RegistryNames are its names in the azureml registry.
	RegistryNames []string
	Description   string
	Tags          map[string]string
	// Latest is the newest version; versions 1..Latest exist.
	Latest int
	// Image is the Docker image the environment is built on.
	Image string
	// CondaFile is the conda specification (YAML text).
	CondaFile string
	// Python is the Python version of the environment.
	Python string
	// Packages are what its jobs need locally, with Debian packages.
	Packages []resource.PythonPackage
	// FirstCreated is when version 1 was published; later versions
	// follow every two weeks.
	FirstCreated time.Time
}

// VersionCreated is when version v was published.
func (c *CuratedEnvironment) VersionCreated(v int) time.Time {
	return c.FirstCreated.Add(time.Duration(v-1) * 14 * 24 * time.Hour)
}

// HasVersion reports whether version (a string) exists.
func (c *CuratedEnvironment) HasVersion(version string) (int, bool) {
	n, err := strconv.Atoi(version)
	return n, err == nil && n >= 1 && n <= c.Latest && strconv.Itoa(n) == version
}

// sklearnPackages are what the scikit-learn environments give a training
// script (the DP-100 labs import these), with their Debian 12 packages.
var sklearnPackages = []resource.PythonPackage{
	{Requirement: "numpy", Import: "numpy", Debian: "python3-numpy"},
	{Requirement: "pandas", Import: "pandas", Debian: "python3-pandas"},
	{Requirement: "scipy", Import: "scipy", Debian: "python3-scipy"},
	{Requirement: "scikit-learn", Import: "sklearn", Debian: "python3-sklearn"},
	{Requirement: "joblib", Import: "joblib", Debian: "python3-joblib"},
	{Requirement: "matplotlib", Import: "matplotlib", Debian: "python3-matplotlib"},
}

// curated is the catalogue, in name order.
var curated = []*CuratedEnvironment{
	{
		Name:          "AzureML-sklearn-0.24-ubuntu18.04-py37-cpu",
		RegistryNames: []string{"sklearn-0.24-ubuntu18.04-py37-cpu", "sklearn-0.24"},
		Description:   "An environment for tasks such as regression, clustering, and classification with Scikit-learn. Contains the Azure ML SDK and additional python packages.",
		Tags:          map[string]string{"Scikit-learn": "0.24.1", "Python": "3.7", "OS": "Ubuntu18.04", "OpenMpi": "3.1.2", "Training": ""},
		Latest:        49,
		Image:         "mcr.microsoft.com/azureml/openmpi3.1.2-ubuntu18.04:20211012.v1",
		Python:        "3.7",
		Packages:      sklearnPackages,
		FirstCreated:  time.Date(2021, 2, 1, 0, 0, 0, 0, time.UTC),
		CondaFile: `name: project_environment
channels:
  - conda-forge
dependencies:
  - python=3.7
  - pip=20.2.4
  - pip:
      - matplotlib>=3.3,<3.4
      - psutil>=5.8,<5.9
      - tqdm>=4.59,<4.60
      - pandas>=1.1,<1.2
      - scipy>=1.5,<1.6
      - numpy>=1.10,<1.20
      - ipykernel~=6.0
      - azureml-core==1.34.0
      - azureml-defaults==1.34.0
      - azureml-mlflow==1.34.0
      - azureml-telemetry==1.34.0
      - scikit-learn==0.24.1
`,
	},
	{
		Name:          "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu",
		RegistryNames: []string{"sklearn-1.0", "sklearn-1.0-ubuntu20.04-py38-cpu"},
		Description:   "An environment for tasks such as regression, clustering, and classification with Scikit-learn. Contains the Azure ML SDK and additional python packages.",
		Tags:          map[string]string{"Scikit-learn": "1.0", "Python": "3.8", "OS": "Ubuntu20.04", "OpenMpi": "4.1.0", "Training": ""},
		Latest:        44, // the DP-100 labs (04-env, 10) ask for version 44
		Image:         "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:20230227.v1",
		Python:        "3.9",
		Packages:      sklearnPackages,
		FirstCreated:  time.Date(2021, 11, 1, 0, 0, 0, 0, time.UTC),
		CondaFile: `name: sklearn-1.0
channels:
  - conda-forge
dependencies:
  - python=3.9
  - pip=21.3.1
  - pip:
      - azureml-core==1.49.0
      - azureml-defaults==1.49.0
      - azureml-mlflow==1.49.0
      - azureml-telemetry==1.49.0
      - scikit-learn~=1.0.0
      - joblib~=1.2.0
      - debugpy~=1.6.3
      - matplotlib~=3.5.0
      - psutil~=5.8.0
      - tqdm~=4.62.0
      - pandas~=1.3.0
      - scipy~=1.10.0
      - numpy~=1.22.0
      - ipykernel~=6.0
      - tensorboard
      - py-spy
`,
	},
	{
		Name:          "AzureML-sklearn-1.5",
		RegistryNames: []string{"sklearn-1.5"},
		Description:   "An environment for tasks such as regression, clustering, and classification with Scikit-learn. Contains the Azure ML SDK and additional python packages.",
		Tags:          map[string]string{"Scikit-learn": "1.5", "Python": "3.10", "OS": "Ubuntu20.04", "OpenMpi": "4.1.0", "Training": "", "Preview": ""},
		Latest:        20,
		Image:         "mcr.microsoft.com/azureml/curated/sklearn-1.5:20",
		Python:        "3.10",
		Packages:      sklearnPackages,
		FirstCreated:  time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC),
		CondaFile: `name: sklearn-1.5
channels:
  - conda-forge
  - anaconda
dependencies:
  - python=3.10
  - pip=24.0
  - pandas~=1.5.3
  - scipy~=1.10.0
  - numpy~=1.22.0
  - pip:
      - scikit-learn~=1.5.0
      - scikit-learn-intelex
      - joblib~=1.2.0
      - azureml-core==1.57.0
      - azureml-defaults==1.57.0
      - azureml-inference-server-http
      - azureml-mlflow==1.57.0
      - azureml-telemetry==1.57.0
      - matplotlib~=3.5.0
      - psutil~=5.8.0
      - tqdm~=4.66.3
      - ipykernel~=6.0
      - debugpy~=1.6.3
      - tensorboard
      - py-spy
      - py-cpuinfo
      - torch-tb-profiler
`,
	},
}

// CuratedEnvironments returns the catalogue, in name order.
func CuratedEnvironments() []*CuratedEnvironment { return curated }

// Curated returns the curated environment with this name (any case), or nil.
func Curated(name string) *CuratedEnvironment {
	for _, c := range curated {
		if strings.EqualFold(c.Name, name) {
			return c
		}
	}
	return nil
}

// CuratedInRegistry returns the curated environment that the azureml
// registry calls name (also accepting the workspace name, with or without
// the AzureML- prefix), or nil.
func CuratedInRegistry(name string) *CuratedEnvironment {
	if c := Curated(name); c != nil {
		return c
	}
	if c := Curated(CuratedPrefix + name); c != nil {
		return c
	}
	for _, c := range curated {
		for _, r := range c.RegistryNames {
			if strings.EqualFold(r, name) {
				return c
			}
		}
	}
	return nil
}

// IsReservedEnvName reports whether name uses the curated prefix.
func IsReservedEnvName(name string) bool {
	return len(name) >= len(CuratedPrefix) && strings.EqualFold(name[:len(CuratedPrefix)], CuratedPrefix)
}

func curatedNames() string {
	names := make([]string, len(curated))
	for i, c := range curated {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}
