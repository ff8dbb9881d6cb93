-- record --
-- One audit_logs row, through the function every writer of the trail uses (gateway too).
SELECT record_audit(
  p_action => %(action)s, p_resource_type => %(resource_type)s,
  p_resource_id => %(resource_id)s, p_details => %(details)s, p_ip => %(ip)s::inet,
  p_user_agent => %(user_agent)s, p_user_id => %(user_id)s);
