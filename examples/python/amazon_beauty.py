"""The Amazon Beauty notebook (seed 001) with aerec: string ids, users and
products with one rating dropped, 80/20 split, the tutorial model.

    python examples/python/amazon_beauty.py ratings_Beauty.csv [epochs]

Same numbers as `aerec train --data ratings_Beauty.csv --min-user-ratings 2
--min-item-ratings 2 --test-fraction 0.2 --preset tutorial`.
"""
import sys

import aerec

ratings = aerec.filter(sys.argv[1], min_user_ratings=2, min_item_ratings=2)
train, test, _ = aerec.split(ratings, test_fraction=0.2, seed=1)
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
model = aerec.Autoencoder(preset="tutorial", epochs=epochs).fit(train, valid=test)
print("test RMSE", model.evaluate(test, k=None)["rating"]["rmse"])
user = train.to_pandas()["user"].iloc[0]
print(model.recommend(user, n=10))
model.save("beauty.aerec")
