"""aelab: `streamlit run app.py`. The sidebar picks a model and a dataset; each page is a view."""

import streamlit as st

from aelab.ui import state

st.set_page_config(page_title="aelab: latent-space explorer", page_icon=":material/blur_on:", layout="wide")

PAGES = {
    "Explore": [
        st.Page("aelab/ui/map.py", title="Latent map", icon=":material/scatter_plot:", default=True),
        st.Page("aelab/ui/traverse.py", title="Traverse", icon=":material/tune:"),
        st.Page("aelab/ui/interpolate.py", title="Interpolate", icon=":material/linear_scale:"),
        st.Page("aelab/ui/sample.py", title="Sample", icon=":material/casino:"),
        st.Page("aelab/ui/reconstruct.py", title="Reconstruct", icon=":material/upload:"),
    ],
}

page = st.navigation(PAGES)
state.sidebar()
page.run()
