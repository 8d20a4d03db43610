package api

import (
	"crypto/rand"
	"math/big"
)

// Words of generated job names. Azure ML names jobs adjective_noun_suffix
// (teal_answer_v5t7yq9zwn); any of these words gives the same shape.
var (
	jobNameAdjectives = []string{
		"affable", "amiable", "amusing", "blue", "bold", "brave", "bright", "busy", "calm", "careful",
		"clever", "coral", "cosmic", "crimson", "cyan", "dreamy", "eager", "elated", "epic", "fervent",
		"friendly", "funny", "gentle", "gifted", "golden", "good", "great", "happy", "helpful", "honest",
		"hungry", "jolly", "joyful", "keen", "kind", "lemon", "lime", "lively", "loyal", "lucid",
		"magenta", "mighty", "modest", "neat", "nice", "nifty", "olive", "patient", "plucky", "polite",
		"proud", "purple", "quick", "quiet", "quirky", "red", "salmon", "sharp", "shy", "silly",
		"silver", "sincere", "sleepy", "smart", "stoic", "sunny", "sweet", "tender", "teal", "tidy",
		"tough", "upbeat", "vivid", "wacky", "willing", "witty", "yellow", "zen",
	}
	jobNameNouns = []string{
		"answer", "apple", "arch", "atemoya", "bag", "ball", "basket", "bean", "bear", "bee",
		"beetle", "bell", "berry", "boat", "book", "box", "brain", "bread", "brush", "cabbage",
		"camera", "candle", "carrot", "cat", "chain", "cherry", "cloud", "coat", "comb", "cup",
		"curtain", "date", "dog", "door", "drawer", "drop", "egg", "engine", "eye", "feather",
		"fig", "fish", "flag", "garden", "gate", "glove", "goat", "grape", "guava", "hat",
		"heart", "horse", "island", "jelly", "kettle", "key", "kite", "knot", "leaf", "lemon",
		"lion", "lizard", "lock", "map", "market", "monkey", "moon", "nail", "needle", "nest",
		"night", "nut", "onion", "orange", "owl", "oyster", "pan", "pear", "pencil", "pig",
		"pin", "plane", "plum", "pot", "rabbit", "rain", "river", "rocket", "root", "sail",
		"school", "seal", "shelf", "ship", "shoe", "snail", "snake", "sock", "spoon", "star",
		"stem", "sun", "table", "tail", "tiger", "toe", "tomato", "train", "tree", "truck",
		"turnip", "wall", "watch", "whale", "wheel", "window", "wing", "yak", "zebra",
	}
)

// jobNameSuffixChars has no vowels, so that suffixes never spell words.
const jobNameSuffixChars = "bcdfghjklmnpqrstvwxyz0123456789"

// GenerateJobName returns a new job name in Azure ML's style,
// adjective_noun_<10 characters>, e.g. teal_answer_v5t7yq9zwn.
func GenerateJobName() string {
	pick := func(n int) int {
		v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
		if err != nil {
			panic("crypto/rand failed: " + err.Error())
		}
		return int(v.Int64())
	}
	b := make([]byte, 10)
	for i := range b {
		b[i] = jobNameSuffixChars[pick(len(jobNameSuffixChars))]
	}
	return jobNameAdjectives[pick(len(jobNameAdjectives))] + "_" + jobNameNouns[pick(len(jobNameNouns))] + "_" + string(b)
}
