"""Text handling: article text to paragraphs and sentences, and size-bounded chunks."""
