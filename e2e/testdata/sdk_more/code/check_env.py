import sys

import sklearn

print("python", sys.executable)
print("sklearn OK", sklearn.__version__)
