# Train a logistic regression model on the diabetes data (the DP-100 lab's
# training script) and report its accuracy and AUC.
import argparse

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

parser = argparse.ArgumentParser()
parser.add_argument("--reg_rate", type=float, default=0.01)
args = parser.parse_args()

print("Loading Data...")
diabetes = pd.read_csv("diabetes.csv")
X = diabetes[["Pregnancies", "PlasmaGlucose", "DiastolicBloodPressure", "TricepsThickness",
              "SerumInsulin", "BMI", "DiabetesPedigree", "Age"]].values
y = diabetes["Diabetic"].values
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.30, random_state=0)

print("Training a logistic regression model with regularization rate of", args.reg_rate)
model = LogisticRegression(C=1 / args.reg_rate, solver="liblinear").fit(X_train, y_train)

y_hat = model.predict(X_test)
acc = np.average(y_hat == y_test)
print("Accuracy:", acc)

y_scores = model.predict_proba(X_test)
auc = roc_auc_score(y_test, y_scores[:, 1])
print("AUC: " + str(auc))
