"""What a trained model says: probabilities, metrics and their figures, and predictions on files."""
