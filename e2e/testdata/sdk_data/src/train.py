# A training script for the code-upload test (never run by it).
import sys

print("hello from", sys.argv[0])
