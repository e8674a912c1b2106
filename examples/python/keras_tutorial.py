"""The Keras tutorial (seed 000) with aerec: Atrain.npz/Atest.npz in, the
700-unit tanh U-AutoRec (preset "tutorial"), the loss plot.

    python examples/python/keras_tutorial.py Atrain.npz Atest.npz [epochs]

Same numbers as `aerec train --train Atrain.npz --test Atest.npz --preset tutorial`.
"""
import sys

import aerec
from scipy.sparse import load_npz

train, test = load_npz(sys.argv[1]), load_npz(sys.argv[2])
epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 20
model = aerec.Autoencoder(preset="tutorial", epochs=epochs).fit(train, valid=test)
print("test RMSE", model.evaluate(test, k=None)["rating"]["rmse"])
try:
    import matplotlib.pyplot as plt
except ImportError:  # the plot is optional: numbers first
    print(model.history[["train_rmse", "valid_rmse"]])
else:
    model.history[["train_rmse", "valid_rmse"]].plot(title="RMSE per epoch")
    plt.savefig("loss.png")
