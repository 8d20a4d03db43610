#!/bin/bash
# Creation script of the SDK test's compute instance.
echo "setting up $CI_NAME" > "$HOME/setup-done.txt"
