# Orodha ya huduma za serikali (catalogue) — maneno ya pamoja. Majina ya huduma yako katika
# locales/sw/catalogue/<shirika>.ftl. Herufi za GSM-7 pekee.

home-search = Tafuta huduma
home-browse = Huduma zote

catalogue-categories = Chagua aina ya huduma:
catalogue-search = Andika jina la huduma (mfano leseni, ardhi, pasipoti):
catalogue-results = Huduma zilizopatikana:
catalogue-none = Hakuna huduma ya "{$query}".
catalogue-search-again = Tafuta tena
catalogue-browse = Huduma kwa aina

catalogue-account-invalid = Nambari hiyo si sahihi. Jaribu tena.
catalogue-account-unknown = Nambari hiyo haijapatikana.
catalogue-number-invalid = Nambari hiyo si sahihi. Jaribu tena.
catalogue-number-unknown = Nambari hiyo haijapatikana.
catalogue-pay-confirm = {$service_name}: KES {$amount}
catalogue-pay-done = Ombi {$reference} limepokelewa. Utapokea ujumbe wa M-Pesa: weka PIN yako kulipa KES {$amount}. Wakati ujao piga {$service_dial}
catalogue-fee-confirm = {$service_name}
    Ada: KES {$fee}
catalogue-fee-done = Ombi {$reference} limepokelewa. Utapokea ujumbe wa M-Pesa: weka PIN yako kulipa KES {$fee}. Wakati ujao piga {$service_dial}
catalogue-enter-id = Weka nambari yako ya kitambulisho (ID):
catalogue-id-invalid = ID ni tarakimu 7 au 8. Jaribu tena.
catalogue-slot-pick = {$service_name}: chagua siku na saa
catalogue-slot-none = Hakuna nafasi wazi kwa sasa. Jaribu kesho.
catalogue-slot-done = Miadi {$reference}: {$slot} imewekwa. Fika dakika 15 mapema na ID yako. Wakati ujao piga {$service_dial}

cat-land = Ardhi
cat-transport = Usafiri
cat-tax = Kodi
cat-business = Biashara
cat-health = Afya
cat-education = Elimu
cat-immigration = Uhamiaji
cat-family = Familia: vizazi, vifo, ndoa
cat-work = Kazi na hifadhi ya jamii
cat-justice = Mahakama na sheria
cat-county = Kaunti
