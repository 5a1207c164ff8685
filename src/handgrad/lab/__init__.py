"""The lecture laboratory: the analyses and experiments of the notes, one function each."""
