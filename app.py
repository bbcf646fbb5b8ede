"""aelab: `streamlit run app.py`. The sidebar picks a model and a dataset; each page is a view."""

from urllib.parse import quote

import streamlit as st

from aelab.models.config import EntryPointError
from aelab.settings import SettingsError
from aelab.ui import context, keys, navigation

# An emoji, which the browser draws itself (a :material/...: page icon is fetched from fonts.gstatic.com), as
# the SVG Streamlit's frontend makes of one: given so, Streamlit skips importing its table of every emoji,
# a large regex compiled at each server's first page.
ICON = "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 100 100'><text y='.9em' font-size='90'>🌀</text></svg>"
st.set_page_config(
    page_title="aelab: latent-space explorer", page_icon=f"data:image/svg+xml,{quote(ICON)}", layout="wide"
)
context.require_sign_in()
try:
    context.settings()  # an operator's unusable setting stops every page with one line
except SettingsError as err:
    st.error(str(err))
    st.stop()
keys.keep_alive()

groups: dict[str, list] = {}
for spec in navigation.PAGES:
    groups.setdefault(spec.group, []).append(
        st.Page(spec.script, title=spec.title, icon=spec.icon, default=spec is navigation.DEFAULT)
    )
page = st.navigation(groups)
context.sidebar()
try:
    page.run()
except EntryPointError as err:  # an own model's code failed on this page's input (aelab.models.own): one line
    st.error(str(err), icon=":material/error:")
