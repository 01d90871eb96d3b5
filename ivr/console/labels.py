"""Italian words for the store's codes, in one place, so every page names things the same way."""

from __future__ import annotations

LABELS: dict[str, str] = {
    # operator states
    "available": "Disponibile",
    "offered": "Chiamata in arrivo",
    "busy": "In conversazione",
    "wrap_up": "Chiusura scheda",
    "paused": "In pausa",
    "logged_out": "Disconnesso",
    # pause reasons set by the engine
    "missed_offers": "chiamate non risposte",
    "phone_unregistered": "telefono non registrato",
    "callback": "richiamata in corso",
    # roles
    "operator": "Operatore",
    "supervisor": "Supervisore",
    "administrator": "Amministratore",
    # ticket handling
    "new": "Nuovo",
    "assigned": "Assegnato",
    "called_back": "Richiamato",
    "closed": "Chiuso",
    "resolved": "Risolto",
    "escalated": "Secondo livello",
    "referred": "Indirizzato ad altro ufficio",
    "kb_answer": "Risposta con un articolo",
    "answered": "Risposto",
    "no_answer": "Nessuna risposta",
    # commitments
    "phone_callback": "Richiamata (10 giorni)",
    "web_reply": "Risposta web (48 ore)",
    "web_second": "Risposta e-mail di secondo livello (10 giorni)",
    "near": "In scadenza",
    "overdue": "Scaduto",
    "met": "Rispettato",
    "ok": "Nei tempi",
    # topics and boxes
    "citizens": "Cittadini e lavoratori",
    "employers": "Datori di lavoro",
    "agencies": "Agenzie e operatori",
    "general": "Generale",
    # channels
    "phone": "Telefono",
    "web": "Web",
    # why a call went to voicemail, or left the queue
    "cap": "Limite giornaliero",
    "caller_choice": "Scelta del chiamante",
    "no_operators": "Nessun operatore",
    "max_wait": "Attesa troppo lunga",
    "abandoned": "Abbandonata in attesa",
    "vm_closed": "Linea chiusa",
    "vm_busy": "Operatori occupati",
    "vm_cap": "Limite giornaliero raggiunto",
    "vm_caller_choice": "Scelta del chiamante",
    "vm_no_operators": "Nessun operatore collegato",
    "vm_max_wait": "Attesa troppo lunga",
    "vm_menu_default": "Nessuna scelta nel menu",
    # where the callback number came from
    "src_confirmed": "confermato dal chiamante",
    "src_typed": "digitato dal chiamante",
    "src_caller_id": "numero del chiamante",
    "src_none": "non disponibile",
    # timeline
    "ev_call_started": "Chiamata arrivata",
    "ev_call_ended": "Chiamata terminata",
    "ev_queue_admitted": "Entrata in coda",
    "ev_queue_not_served": "Non servita dalla coda",
    "ev_queue_left": "Uscita dalla coda",
    "ev_offer": "Offerta a un operatore",
    "ev_offer_missed": "Offerta non risposta",
    "ev_operator_answered": "Risposta dell'operatore",
    "ev_operator_call_ended": "Fine conversazione",
    "ev_outcome_filed": "Scheda registrata",
    "ev_referred": "Indirizzato a un ufficio",
    "ev_mail_referral": "Recapiti dell'ufficio inviati per e-mail",
    "ev_voicemail_left": "Messaggio in segreteria",
    "ev_callback_assigned": "Richiamata assegnata",
    "ev_callback_attempt": "Tentativo di richiamata",
    "ev_ticket_closed": "Pratica chiusa",
    "ev_consent": "Risposta al consenso",
    "ev_recording_kept": "Registrazione conservata",
    "ev_web_request_received": "Richiesta web ricevuta",
    "ev_web_reply": "Risposta inviata",
    "ev_web_escalated": "Passata al secondo livello",
    "ev_article_used": "Risposta costruita da un articolo",
    "ev_mail_receipt": "E-mail di ricevuta",
    "ev_mail_reply": "E-mail di risposta",
    "ev_mail_escalation": "E-mail di presa in carico",
    "ev_sla_near": "Impegno in scadenza",
    "ev_sla_overdue": "Impegno scaduto",
    # how a second-level citizen is answered
    "by_phone": "al telefono",
    "by_email": "per e-mail",
    # transcripts
    "pending": "In attesa",
    "done": "Trascritto",
    "empty": "Messaggio vuoto",
    "failed": "Non riuscita",
    # callback progress
    "calling_operator": "Squilla il tuo telefono…",
    "calling_citizen": "Chiamata al cittadino in corso…",
    "connected": "In conversazione con il cittadino",
    "ended": "Richiamata terminata",
    "operator_no_answer": "Non hai risposto al tuo telefono",
    "failed_callback": "Richiamata non riuscita",
    "cancelled": "Richiamata annullata",
}

MESSAGES: dict[str, str] = {
    "missed_assigned": "Chiamata persa assegnata: l'operatore la trova tra le sue richiamate.",
    "missed_done": "Chiamata persa segnata come gestita.",
    "logged_out": "Sei uscito dalla console.",
    "expired": "La sessione è scaduta: accedi di nuovo.",
    "presence": "Stato aggiornato.",
    "outcome": "Scheda registrata.",
    "referred": "Scheda registrata: cittadino indirizzato all'ufficio.",
    "referred_mailed": "Scheda registrata: recapiti dell'ufficio inviati per e-mail al cittadino.",
    "referred_mail_failed": "Scheda registrata, ma l'e-mail al cittadino non è partita: detta i recapiti a voce.",
    "referred_mail_held": "Scheda registrata; e-mail trattenuta (troppi invii): detta i recapiti a voce.",
    "referred_mail_off": "Scheda registrata; l'invio di e-mail non è attivo: detta i recapiti a voce.",
    "kb_saved": "Articolo salvato.",
    "kb_archived": "Articolo archiviato: non è più proposto né cercato.",
    "kb_answer": "Chiamata risolta con l'articolo.",
    "assigned": "Richiamata assegnata.",
    "attempt": "Esito della richiamata registrato.",
    "closed": "Pratica chiusa.",
    "callback_started": "Richiamata avviata: rispondi al tuo telefono.",
    "operator_saved": "Operatore salvato.",
    "closure_saved": "Chiusura registrata.",
    "closure_ended": "Chiusura terminata: la linea segue di nuovo l'orario.",
    "campaign_saved": "Campagna salvata.",
    "campaign_ended": "Campagna terminata.",
    "user_saved": "Utente salvato.",
    "user_disabled": "Utente disattivato: le sue sessioni sono chiuse.",
    "user_enabled": "Utente riattivato.",
    "password_reset": "Nuova password generata.",
    "request_replied": "Risposta registrata e inviata al cittadino.",
    "request_replied_unsent": "Risposta registrata, ma l'e-mail non è partita: avvisi il cittadino in altro modo.",
    "request_escalated": "Richiesta passata al secondo livello: il cittadino è stato avvisato per e-mail.",
    "request_escalated_unsent": "Richiesta passata al secondo livello, ma l'e-mail di avviso non è partita.",
}


def label(code: object, family: str = "") -> str:
    """The Italian word for a code; `family` (vm, src, ev) picks among codes that share a name."""
    if code is None or code == "":
        return "—"
    if family:
        return LABELS.get(f"{family}_{code}", str(code))
    return LABELS.get(str(code), str(code))
