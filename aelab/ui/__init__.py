"""The Streamlit app's helpers; the page scripts themselves are in pages/ and registered in navigation."""
