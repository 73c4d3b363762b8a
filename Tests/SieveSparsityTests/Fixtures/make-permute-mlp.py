# Writes the model of the --permute regression test (issue #15) into the folder given as argument:
# a scikit-learn MLP classifier 40 -> 128 -> 128 -> 10 (ReLU) on a synthetic 40-feature, 10-class
# data set, exported by skl2onnx and cut after its Softmax (Cast, MatMul, Add, Relu, ..., Softmax),
# with calibration samples (calibration.npz), held-out samples (heldout.npy) and their labels.
# Run by PermuteRegressionTests with the repository's .venv/bin/python; usable by hand too.
import sys

import numpy as np
import onnx
from skl2onnx import to_onnx
from sklearn.datasets import make_classification
from sklearn.neural_network import MLPClassifier

folder = sys.argv[1]
features, labels = make_classification(n_samples=3000, n_features=40, n_informative=30, n_redundant=5, n_classes=10,
                                       n_clusters_per_class=2, class_sep=1.0, random_state=0)
features = features.astype(np.float32)
train_x, train_y = features[:2000], labels[:2000]
test_x, test_y = features[2000:], labels[2000:]
classifier = MLPClassifier(hidden_layer_sizes=(128, 128), max_iter=300, random_state=0).fit(train_x, train_y)

model = to_onnx(classifier, train_x[:1], options={id(classifier): {"zipmap": False}}, target_opset=13)
graph = model.graph
kept = []
for node in graph.node:
    kept.append(node)
    if node.op_type == "Softmax":
        break
# The label branch (ArgMax, ArrayFeatureExtractor, ...) goes: the probabilities are the output.
probabilities = [output for output in graph.output if output.name == "probabilities"][0]
probabilities.name = kept[-1].output[0]
del graph.node[:]
graph.node.extend(kept)
del graph.output[:]
graph.output.extend([probabilities])
used = {name for node in kept for name in node.input}
initializers = [tensor for tensor in graph.initializer if tensor.name in used]
del graph.initializer[:]
graph.initializer.extend(initializers)
onnx.checker.check_model(model)
with open(f"{folder}/mlp.onnx", "wb") as out:
    out.write(model.SerializeToString())
np.savez(f"{folder}/calibration.npz", X=train_x[:256])
np.save(f"{folder}/heldout.npy", test_x)
np.save(f"{folder}/labels.npy", test_y.astype(np.int64))
print(f"dense held-out accuracy {classifier.score(test_x, test_y):.4f}")
