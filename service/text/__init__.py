"""Text handling: article text and HTML to blocks, paragraphs and sentences; language; chunks."""
