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
    "Work": [
        st.Page("aelab/ui/train.py", title="Train", icon=":material/model_training:"),
        st.Page("aelab/ui/denoise.py", title="Denoise", icon=":material/auto_fix_high:"),
        st.Page("aelab/ui/anomaly.py", title="Anomaly", icon=":material/troubleshoot:"),
        st.Page("aelab/ui/compare.py", title="Compare", icon=":material/compare:"),
    ],
}

page = st.navigation(PAGES)
state.sidebar()
page.run()
