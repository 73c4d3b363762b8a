# Writes the digits fixture of the sparsity accuracy test: a scikit-learn MLP (64 -> 64 -> 32 -> 10,
# ReLU) trained on the first 1297 of scikit-learn's bundled 8x8 digits, as textual IR, plus a
# calibration split (256 training samples) and the held-out split (the last 500 digits, labels too).
# Run from the repository root: /work/main/.venv/bin/python Tests/SieveSparsityTests/Fixtures/make-digits.py
import numpy as np
from sklearn.datasets import load_digits
from sklearn.neural_network import MLPClassifier

HERE = "Tests/SieveSparsityTests/Fixtures/"
BATCH = 100

features, labels = load_digits(return_X_y=True)
features = features.astype(np.float32)
train_x, train_y = features[:1297], labels[:1297]
test_x, test_y = features[1297:], labels[1297:]
clf = MLPClassifier(hidden_layer_sizes=(64, 32), activation="relu", max_iter=500, random_state=0)
clf.fit(train_x, train_y)
print(f"digits: train accuracy {clf.score(train_x, train_y):.4f}, held-out accuracy {clf.score(test_x, test_y):.4f}")


def hexdata(array):
    return 'hex<"' + np.ascontiguousarray(array, dtype="<f4").tobytes().hex() + '">'


sizes = [64, 64, 32, 10]
lines = [f"graph @digits(%input: tensor<{BATCH}x64xf32>) -> tensor<{BATCH}x10xf32> {{"]
consts = []
previous = "%input"
for index, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
    name = f"fc{index + 1}"
    lines.append(f"  %{name}.w = const @{name}.weight : tensor<{fan_in}x{fan_out}xf32>")
    lines.append(f"  %{name}.m = matmul {previous}, %{name}.w : tensor<{BATCH}x{fan_out}xf32>")
    lines.append(f"  %{name}.b = const @{name}.bias : tensor<{fan_out}xf32>")
    lines.append(f"  %{name}.y = add %{name}.m, %{name}.b : tensor<{BATCH}x{fan_out}xf32>")
    consts.append(f"const @{name}.weight : tensor<{fan_in}x{fan_out}xf32> = {hexdata(clf.coefs_[index])}")
    consts.append(f"const @{name}.bias : tensor<{fan_out}xf32> = {hexdata(clf.intercepts_[index])}")
    previous = f"%{name}.y"
    if index < 2:
        lines.append(f"  %{name}.r = relu {previous} : tensor<{BATCH}x{fan_out}xf32>")
        previous = f"%{name}.r"
lines.append(f"  return {previous}")
lines.append("}")
with open(HERE + "digits.sir", "w") as out:
    out.write("\n".join(lines + consts) + "\n")

rng = np.random.default_rng(0)
calibration = train_x[rng.choice(len(train_x), 256, replace=False)]
np.savez(HERE + "digits-calibration.npz", input=calibration)
np.savez(HERE + "digits-heldout.npz", input=test_x, label=test_y.astype(np.int64))
