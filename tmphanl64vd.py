
import numpy as np
import plotly.graph_objects as go
import streamlit as st

xy = np.random.default_rng(0).normal(size=(10_000, 2))
st.title("Bare page")
st.plotly_chart(go.Figure(go.Scattergl(x=xy[:, 0], y=xy[:, 1], mode="markers")), on_select="rerun")
