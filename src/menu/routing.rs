//! Menu routing: which menu a dialled service code reaches (longest code first, trailing
//! dialled digits become inputs), and which menus a channel may reach at all.

use std::sync::Arc;

use super::Menu;

/// The menus (by id) a channel may reach; `None` for every menu.
pub type MenuFilter = Option<Arc<[String]>>;

/// Whether a channel restricted to `allowed` menus may reach `menu`.
pub fn allows(allowed: Option<&[String]>, menu: &str) -> bool {
    allowed.is_none_or(|a| a.iter().any(|m| m == menu))
}

/// Every loaded menu and the service codes they answer.
///
/// The checker's set holds plain [`Menu`]s; serving holds the engine's prepared form of each
/// (anything that reads as a menu through [`AsRef`]), routed by the same code.
#[derive(Debug)]
pub struct MenuSet<M = Menu> {
    pub menus: Vec<Arc<M>>,
    routes: Vec<(String, usize)>,
}

impl<M> Default for MenuSet<M> {
    fn default() -> MenuSet<M> {
        MenuSet { menus: Vec::new(), routes: Vec::new() }
    }
}

impl AsRef<Menu> for Menu {
    fn as_ref(&self) -> &Menu {
        self
    }
}

impl<M: AsRef<Menu>> MenuSet<M> {
    pub fn new(menus: Vec<Arc<M>>) -> MenuSet<M> {
        let mut routes: Vec<(String, usize)> = menus
            .iter()
            .enumerate()
            .flat_map(|(i, m)| menu_of(m).service_codes.iter().map(move |c| (normalize_code(c), i)))
            .collect();
        // Longest code first, so `*384*1#` wins over `*384#` for a dial of `*384*1*2#`.
        routes.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        MenuSet { menus, routes }
    }

    /// The menu for a dialled code, and the digits dialled after the bound code.
    ///
    /// `*384*1*2#` reaches the menu bound to `*384#` with extras `["1", "2"]`.
    pub fn route(&self, service_code: &str) -> Option<(&Arc<M>, Vec<String>)> {
        self.route_in(service_code, None)
    }

    /// Like [`MenuSet::route`], among the menus whose ids are in `allowed` (all when `None`):
    /// a channel never reaches a menu it is not configured for.
    pub fn route_in(&self, service_code: &str, allowed: Option<&[String]>) -> Option<(&Arc<M>, Vec<String>)> {
        let dialled = normalize_code(service_code);
        for (code, idx) in &self.routes {
            if !allows(allowed, &menu_of(&self.menus[*idx]).id) {
                continue;
            }
            if dialled == *code {
                return Some((&self.menus[*idx], Vec::new()));
            }
            if let Some(rest) = dialled.strip_prefix(code.as_str()).and_then(|r| r.strip_prefix('*')) {
                let extras = rest.split('*').filter(|s| !s.is_empty()).map(str::to_owned).collect();
                return Some((&self.menus[*idx], extras));
            }
        }
        None
    }

    pub fn by_id(&self, id: &str) -> Option<&Arc<M>> {
        self.menus.iter().find(|m| menu_of(m).id == id)
    }
}

/// The menu an entry of a set reads as.
fn menu_of<M: AsRef<Menu>>(m: &Arc<M>) -> &Menu {
    (**m).as_ref()
}

/// `*384#`, `384`, `*384` all become `384`; `*384*1#` becomes `384*1`.
pub fn normalize_code(code: &str) -> String {
    code.trim().trim_start_matches('*').trim_end_matches('#').to_owned()
}
