package replay

import (
	"fmt"
	"os"

	"gopkg.in/yaml.v3"
)

// pipelineYAML returns the pipeline file's stream config without its input and output (replay
// supplies both), with one processing thread: stateful stages must see events in event-time order
// whatever the batch boundaries, which parallel pipeline threads would not keep.
func pipelineYAML(path string) (string, error) {
	return pipelineYAMLWith(path, nil, nil)
}

// pipelineYAMLWith sets the input and output to in and out (left out when nil).
func pipelineYAMLWith(path string, in, out map[string]any) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var conf map[string]any
	if err := yaml.Unmarshal(data, &conf); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if conf == nil {
		conf = map[string]any{}
	}
	delete(conf, "input")
	delete(conf, "output")
	if in != nil {
		conf["input"] = in
	}
	if out != nil {
		conf["output"] = out
	}
	delete(conf, "http")
	delete(conf, "metrics")
	delete(conf, "logger")
	delete(conf, "tests")
	p, _ := conf["pipeline"].(map[string]any)
	if p == nil {
		p = map[string]any{}
	}
	p["threads"] = 1
	conf["pipeline"] = p
	b, err := yaml.Marshal(conf)
	return string(b), err
}
