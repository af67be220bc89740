"""A padded-batch text classifier in the shape most PyTorch sequence code takes:
nn.Embedding(padding_idx=0) -> pack_padded_sequence(enforce_sorted=False) -> a 2-layer
bidirectional nn.LSTM(batch_first=True) -> pad_packed_sequence (masked mean over time) and the
last layer's two final hidden states from h_n -> nn.Linear, trained with Adam and
CrossEntropyLoss from a DataLoader whose collate_fn pads with pad_sequence.

Source: no single tutorial; the pattern of pytorch/tutorials' packed-sequence code (the chatbot
tutorial's ``EncoderRNN``) and of countless sentiment classifiers, written with the documented
``torch.nn.utils.rnn`` API.
Data: 48 numpy-drawn token sequences of lengths 2..12 over 30 tokens (0 is padding), labelled by
whether token 7 occurs more often than token 3; 3 epochs of batch 16 (no shuffle); dropout 0;
the initial weights come from numpy through load_state_dict.
"""

import torch
import torch.nn as nn
from dropin_support import emit, numpy_state, rng, values
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence
from torch.utils.data import DataLoader, Dataset

gen = rng(51)
VOCAB, PAD = 30, 0


class SequenceDataset(Dataset):
    def __init__(self, n):
        self.items = []
        for _ in range(n):
            length = int(gen.integers(2, 13))
            tokens = gen.integers(1, VOCAB, size=length)
            label = int((tokens == 7).sum() > (tokens == 3).sum())
            self.items.append((torch.tensor(tokens.tolist()), label))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, idx):
        return self.items[idx]


def collate(batch):
    seqs, labels = zip(*batch)
    lengths = torch.tensor([len(s) for s in seqs])
    padded = pad_sequence(seqs, batch_first=True, padding_value=PAD)
    return padded, lengths, torch.tensor(labels)


class LSTMClassifier(nn.Module):
    def __init__(self, vocab_size, embed_dim, hidden_dim, num_classes, num_layers=2):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.lstm = nn.LSTM(
            embed_dim,
            hidden_dim,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=0.0,
        )
        self.fc = nn.Linear(4 * hidden_dim, num_classes)

    def forward(self, x, lengths):
        embedded = self.embedding(x)
        packed = pack_padded_sequence(
            embedded, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        packed_out, (h_n, c_n) = self.lstm(packed)
        out, out_lengths = pad_packed_sequence(packed_out, batch_first=True)
        # mean over the real time steps (padding positions of ``out`` are zero)
        mean = out.sum(dim=1) / out_lengths.unsqueeze(1).to(out.dtype)
        # h_n: (num_layers * 2, batch, hidden); the last layer's forward and backward states
        last = torch.cat((h_n[-2], h_n[-1]), dim=1)
        return self.fc(torch.cat((mean, last), dim=1))


train_set, test_set = SequenceDataset(48), SequenceDataset(16)
train_loader = DataLoader(train_set, batch_size=16, shuffle=False, collate_fn=collate)
test_loader = DataLoader(test_set, batch_size=16, shuffle=False, collate_fn=collate)

model = LSTMClassifier(VOCAB, embed_dim=12, hidden_dim=16, num_classes=2)
bound = 1 / 16**0.5


def draw(name, shape):
    if name.startswith("lstm."):
        return gen.uniform(-bound, bound, shape)
    if name == "embedding.weight":
        weight = gen.standard_normal(shape)
        weight[PAD] = 0.0
        return weight
    return None


model.load_state_dict(numpy_state(model, gen, draw))
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
criterion = nn.CrossEntropyLoss()

# The packed batch itself: data, batch sizes and the sorting permutation (which sequence of a
# tie in length comes first is the sort's choice, so the sorted lengths are emitted instead).
x0, len0, _ = next(iter(train_loader))
packed0 = pack_padded_sequence(model.embedding(x0), len0, batch_first=True, enforce_sorted=False)
packed_info = {
    "batch_sizes": packed0.batch_sizes.tolist(),
    "sorted_lengths": len0[packed0.sorted_indices].tolist(),
    "inverse": packed0.sorted_indices[packed0.unsorted_indices].tolist(),
    "data_shape": list(packed0.data.shape),
    "data_sum": packed0.data.sum().item(),
}

losses = []
for epoch in range(3):
    model.train()
    epoch_loss = 0.0
    for x, lengths, y in train_loader:
        optimizer.zero_grad()
        logits = model(x, lengths)
        loss = criterion(logits, y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        epoch_loss += loss.item() * len(y)
    losses.append(epoch_loss / len(train_set))
    print(f"epoch {epoch + 1}: loss {losses[-1]:.4f}")

model.eval()
correct = 0
with torch.no_grad():
    for x, lengths, y in test_loader:
        logits = model(x, lengths)
        correct += (logits.argmax(dim=1) == y).sum().item()
        test_logits = values(logits[:4])
print(f"test accuracy {correct}/{len(test_set)}")

emit(
    {
        "packed": packed_info,
        "losses": losses,
        "correct": correct,
        "test_logits": test_logits,
        "padding_row": values(model.embedding.weight[PAD]),
        "weight_hh_l1_reverse": values(model.lstm.weight_hh_l1_reverse[:2, :4]),
    }
)
