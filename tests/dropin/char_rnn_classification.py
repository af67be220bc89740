"""NLP From Scratch: Classifying Names with a Character-Level RNN -- one-hot letters through
nn.RNN, nn.Linear and nn.LogSoftmax, NLLLoss summed over a minibatch of names, clip_grad_norm_,
SGD, and a confusion matrix under no_grad.

Source: pytorch/tutorials, intermediate_source/char_rnn_classification_tutorial.py (the version
with ``NamesDataset`` and ``CharRNN(nn.RNN)``).
Adaptations: the 18 ``data/names/*.txt`` files are replaced by 4 languages of 12 names each,
built from fixed syllables by a seeded numpy generator; the language list is the sorted label set
(the order of a ``set`` of strings changes between interpreters with hash randomization); the
85/15 split draws its permutation from numpy (``Subset``) instead of ``random_split`` with a torch
``Generator``; Python's ``random`` is seeded for the minibatch shuffle; n_hidden 32, 3 epochs of
batch 8; the initial weights come from numpy through load_state_dict; timing, plots and the
``predict`` printout are left out (its top-3 values are emitted).
"""

# The original's spelling is kept (super(CharRNN, self), unused names).
# ruff: noqa: UP008, E402, B007, B008, F401, F841

import torch

device = torch.device("cpu")
if torch.cuda.is_available():
    device = torch.device("cuda")

torch.set_default_device(device)
print(f"Using device = {torch.get_default_device()}")

import string
import unicodedata

# We can use "_" to represent an out-of-vocabulary character, that is, any character we are not
# handling in our model
allowed_characters = string.ascii_letters + " .,;'" + "_"
n_letters = len(allowed_characters)


# Turn a Unicode string to plain ASCII, thanks to https://stackoverflow.com/a/518232/2809427
def unicodeToAscii(s):
    return "".join(
        c
        for c in unicodedata.normalize("NFD", s)
        if unicodedata.category(c) != "Mn" and c in allowed_characters
    )


print(f"converting 'Ślusàrski' to {unicodeToAscii('Ślusàrski')}")


# Find letter index from all_letters, e.g. "a" = 0
def letterToIndex(letter):
    # return our out-of-vocabulary character if we encounter a letter unknown to our model
    if letter not in allowed_characters:
        return allowed_characters.find("_")
    else:
        return allowed_characters.find(letter)


# Turn a line into a <line_length x 1 x n_letters>,
# or an array of one-hot letter vectors
def lineToTensor(line):
    tensor = torch.zeros(len(line), 1, n_letters)
    for li, letter in enumerate(line):
        tensor[li][0][letterToIndex(letter)] = 1
    return tensor


print(
    f"The letter 'a' becomes {lineToTensor('a')}"
)  # notice that the first position in the tensor = 1
print(f"The name 'Ahn' becomes {lineToTensor('Ahn')}")  # notice 'A' sets the 27th index to 1

import time

from dropin_support import emit, numpy_state, rng, values
from torch.utils.data import Dataset

gen = rng(21)

# The synthetic stand-in for data/names/*.txt: each language builds names from its own syllables.
SYLLABLES = {
    "Italian": ["ro", "ssi", "bel", "li", "gio", "van", "ni", "ma"],
    "Japanese": ["ta", "ka", "shi", "mo", "to", "na", "ki", "su"],
    "Polish": ["ko", "wal", "ski", "czyk", "no", "wak", "dzi", "ew"],
    "Scottish": ["mac", "don", "ald", "camp", "bell", "gor", "ross", "fra"],
}
NAMES = {
    language: [
        "".join(gen.choice(syllables, size=gen.integers(2, 4))).capitalize() for _ in range(12)
    ]
    for language, syllables in SYLLABLES.items()
}


class NamesDataset(Dataset):
    def __init__(self, data_dir):
        self.data_dir = data_dir  # for provenance of the dataset
        self.load_time = time.localtime  # for provenance of the dataset
        labels_set = set()  # set of all classes

        self.data = []
        self.data_tensors = []
        self.labels = []
        self.labels_tensors = []

        # read all the ``.txt`` files in the specified directory
        for label, lines in NAMES.items():
            labels_set.add(label)
            for name in lines:
                self.data.append(name)
                self.data_tensors.append(lineToTensor(name))
                self.labels.append(label)

        # Cache the tensor representation of the labels
        self.labels_uniq = sorted(labels_set)
        for idx in range(len(self.labels)):
            temp_tensor = torch.tensor([self.labels_uniq.index(self.labels[idx])], dtype=torch.long)
            self.labels_tensors.append(temp_tensor)

    def __len__(self):
        return len(self.data)

    def __getitem__(self, idx):
        data_item = self.data[idx]
        data_label = self.labels[idx]
        data_tensor = self.data_tensors[idx]
        label_tensor = self.labels_tensors[idx]

        return label_tensor, data_tensor, data_label, data_item


alldata = NamesDataset("data/names")
print(f"loaded {len(alldata)} items of data")
print(f"example = {alldata[0]}")

order = gen.permutation(len(alldata)).tolist()
n_train = int(0.85 * len(alldata))
train_set = torch.utils.data.Subset(alldata, order[:n_train])
test_set = torch.utils.data.Subset(alldata, order[n_train:])

print(f"train examples = {len(train_set)}, validation examples = {len(test_set)}")

import torch.nn as nn
import torch.nn.functional as F


class CharRNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super(CharRNN, self).__init__()

        self.rnn = nn.RNN(input_size, hidden_size)
        self.h2o = nn.Linear(hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, line_tensor):
        rnn_out, hidden = self.rnn(line_tensor)
        output = self.h2o(hidden[0])
        output = self.softmax(output)

        return output


n_hidden = 32
rnn = CharRNN(n_letters, n_hidden, len(alldata.labels_uniq))
# nn.RNN draws every weight and bias uniform in +-1/sqrt(hidden_size).
bound = 1 / n_hidden**0.5
rnn.load_state_dict(
    numpy_state(
        rnn, gen, lambda name, shape: gen.uniform(-bound, bound, shape) if "rnn." in name else None
    )
)
print(rnn)


def label_from_output(output, output_labels):
    top_n, top_i = output.topk(1)
    label_i = top_i[0].item()
    return output_labels[label_i], label_i


input = lineToTensor("Albert")
output = rnn(input)  # this is equivalent to ``output = rnn.forward(input)``
print(output)
print(label_from_output(output, alldata.labels_uniq))
first_output = values(output)

import random

import numpy as np

random.seed(2024)


def train(
    rnn,
    training_data,
    n_epoch=10,
    n_batch_size=64,
    report_every=50,
    learning_rate=0.2,
    criterion=nn.NLLLoss(),
):
    """
    Learn on a batch of training_data for a specified number of iterations and reporting thresholds
    """
    # Keep track of losses for plotting
    current_loss = 0
    all_losses = []
    rnn.train()
    optimizer = torch.optim.SGD(rnn.parameters(), lr=learning_rate)

    start = time.time()
    print(f"training on data set with n = {len(training_data)}")

    for iter in range(1, n_epoch + 1):
        rnn.zero_grad()  # clear the gradients

        # create some minibatches
        # we cannot use dataloaders because each of our names is a different length
        batches = list(range(len(training_data)))
        random.shuffle(batches)
        batches = np.array_split(batches, len(batches) // n_batch_size)

        for idx, batch in enumerate(batches):
            batch_loss = 0
            for i in batch:  # for each example in this batch
                (label_tensor, text_tensor, label, text) = training_data[i]
                output = rnn.forward(text_tensor)
                loss = criterion(output, label_tensor)
                batch_loss += loss

            # optimize parameters
            batch_loss.backward()
            nn.utils.clip_grad_norm_(rnn.parameters(), 3)
            optimizer.step()
            optimizer.zero_grad()

            current_loss += batch_loss.item() / len(batch)

        all_losses.append(current_loss / len(batches))
        if iter % report_every == 0:
            print(f"{iter} ({iter / n_epoch:.0%}): \t average batch loss = {all_losses[-1]}")
        current_loss = 0

    return all_losses


start = time.time()
all_losses = train(rnn, train_set, n_epoch=3, n_batch_size=8, learning_rate=0.15, report_every=1)
end = time.time()
print(f"training took {end - start}s")


def evaluate(rnn, testing_data, classes):
    confusion = torch.zeros(len(classes), len(classes))

    rnn.eval()  # set to eval mode
    with torch.no_grad():  # do not record the gradients during eval phase
        for i in range(len(testing_data)):
            (label_tensor, text_tensor, label, text) = testing_data[i]
            output = rnn(text_tensor)
            guess, guess_i = label_from_output(output, classes)
            label_i = classes.index(label)
            confusion[label_i][guess_i] += 1

    # Normalize by dividing every row by its sum
    for i in range(len(classes)):
        denom = confusion[i].sum()
        if denom > 0:
            confusion[i] = confusion[i] / denom

    return confusion


confusion = evaluate(rnn, test_set, classes=alldata.labels_uniq)
print(confusion)

with torch.no_grad():
    topv, topi = rnn(lineToTensor("Tanaka")).topk(3, 1, True)

emit(
    {
        "first_output": first_output,
        "losses": all_losses,
        "confusion": values(confusion),
        "top3": values(topv),
        "top3_index": topi.tolist(),
        "weight_hh": values(rnn.rnn.weight_hh_l0[:2, :4]),
    }
)
