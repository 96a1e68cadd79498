"""textclf: recurrent and memory-based text classifiers (TextRNN, BiLSTM, TextRCNN, MemN2N)."""

__version__ = "0.1.0"
