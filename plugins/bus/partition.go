package bus

import (
	"fmt"
	"hash/fnv"
)

// PartitionOf maps a key (a host) to one of n partitions with FNV-1a, stable across processes.
func PartitionOf(key string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// PartitionTopic names partition p of topic among n: the topic itself when n is 1.
func PartitionTopic(topic string, p, n int) string {
	if n <= 1 {
		return topic
	}
	return fmt.Sprintf("%s_p%d", topic, p)
}

// WorkerTopics lists the partition topics worker (0-based) of workers owns: p % workers == worker.
func WorkerTopics(topic string, partitions, workers, worker int) ([]string, error) {
	if partitions < 1 {
		partitions = 1
	}
	if workers < 1 {
		workers = 1
	}
	if worker < 0 || worker >= workers {
		return nil, fmt.Errorf("worker %d out of range 0..%d", worker, workers-1)
	}
	if workers > partitions {
		return nil, fmt.Errorf("%d workers for %d partitions: some workers would own nothing", workers, partitions)
	}
	var out []string
	for p := 0; p < partitions; p++ {
		if p%workers == worker {
			out = append(out, PartitionTopic(topic, p, partitions))
		}
	}
	return out, nil
}
