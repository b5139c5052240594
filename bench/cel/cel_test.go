// Package cel measures what the ServerlessApp CRD's validation rules cost the API server per
// write: the API server's own CEL validator (apiextensions-apiserver), run in-process on the CRD
// in crds/ and on each app in testdata/, defaulted as the API server defaults them.
package cel

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

const crdPath = "../../crds/serverlessapps.serverless-operator.dev.yaml"

func validator(t testing.TB) (*cel.Validator, *schema.Structural) {
	raw, err := os.ReadFile(crdPath)
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	var internal apiextensionsinternal.JSONSchemaProps
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(crd.Spec.Versions[0].Schema.OpenAPIV3Schema, &internal, nil); err != nil {
		t.Fatal(err)
	}
	s, err := schema.NewStructural(&internal)
	if err != nil {
		t.Fatal(err)
	}
	return cel.NewValidator(s, true, celconfig.PerCallLimit), s
}

// apps are testdata/*.yaml by name, decoded as the API server decodes a request (integers as
// int64) and defaulted from the schema.
func apps(t testing.TB, s *schema.Structural) map[string]map[string]interface{} {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no apps in testdata: %v", err)
	}
	out := map[string]map[string]interface{}{}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		js, err := yaml.YAMLToJSON(raw)
		if err != nil {
			t.Fatal(err)
		}
		obj := map[string]interface{}{}
		if err := utiljson.Unmarshal(js, &obj); err != nil {
			t.Fatal(err)
		}
		defaulting.Default(obj, s)
		out[strings.TrimSuffix(filepath.Base(file), ".yaml")] = obj
	}
	return out
}

// The apps are valid: a rule that rejects one would make the benchmark measure an error path.
func TestAppsAreValid(t *testing.T) {
	v, s := validator(t)
	for name, obj := range apps(t, s) {
		errs, _ := v.Validate(context.Background(), nil, s, obj, nil, celconfig.RuntimeCELCostBudget)
		for _, e := range errs {
			t.Errorf("%s: %v", name, e)
		}
	}
}

// BenchmarkCreate is one create's CEL validation; a status write (an update with the spec
// unchanged) runs the same rules.
func BenchmarkCreate(b *testing.B) {
	v, s := validator(b)
	for name, obj := range apps(b, s) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				v.Validate(context.Background(), nil, s, obj, nil, celconfig.RuntimeCELCostBudget)
			}
		})
	}
}
